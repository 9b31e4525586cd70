-- TPC-H Q11: important stock identification (NATION = GERMANY, FRACTION = 0.0001)
SELECT
    ps.partkey AS ps_partkey,
    sum(ps.supplycost * ps.availqty) AS value
FROM
    tpch.tiny.partsupp AS ps,
    tpch.tiny.supplier AS s,
    tpch.tiny.nation AS n
WHERE ps.suppkey = s.suppkey
    AND s.nationkey = n.nationkey
    AND n.name = 'GERMANY'
GROUP BY ps.partkey
HAVING sum(ps.supplycost * ps.availqty) > (
    SELECT sum(ps2.supplycost * ps2.availqty) * 0.0001
    FROM
        tpch.tiny.partsupp AS ps2,
        tpch.tiny.supplier AS s2,
        tpch.tiny.nation AS n2
    WHERE ps2.suppkey = s2.suppkey
        AND s2.nationkey = n2.nationkey
        AND n2.name = 'GERMANY'
)
ORDER BY value DESC
