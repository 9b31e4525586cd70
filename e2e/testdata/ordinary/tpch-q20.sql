-- TPC-H Q20: potential part promotion (COLOR = forest, DATE = 1994-01-01, NATION = CANADA)
SELECT
    s.name AS s_name,
    s.address AS s_address
FROM
    tpch.tiny.supplier AS s,
    tpch.tiny.nation AS n
WHERE s.suppkey IN (
        SELECT ps.suppkey
        FROM tpch.tiny.partsupp AS ps
        WHERE ps.partkey IN (
                SELECT p.partkey
                FROM tpch.tiny.part AS p
                WHERE p.name LIKE 'forest%'
            )
            AND ps.availqty > (
                SELECT 0.5 * sum(l.quantity)
                FROM tpch.tiny.lineitem AS l
                WHERE l.partkey = ps.partkey
                    AND l.suppkey = ps.suppkey
                    AND l.shipdate >= DATE '1994-01-01'
                    AND l.shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR
            )
    )
    AND s.nationkey = n.nationkey
    AND n.name = 'CANADA'
ORDER BY s_name
