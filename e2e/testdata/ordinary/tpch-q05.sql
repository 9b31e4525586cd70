-- TPC-H Q5: local supplier volume (REGION = ASIA, DATE = 1994-01-01)
SELECT
    n.name AS n_name,
    sum(l.extendedprice * (1 - l.discount)) AS revenue
FROM
    tpch.tiny.customer AS c,
    tpch.tiny.orders AS o,
    tpch.tiny.lineitem AS l,
    tpch.tiny.supplier AS s,
    tpch.tiny.nation AS n,
    tpch.tiny.region AS r
WHERE c.custkey = o.custkey
    AND l.orderkey = o.orderkey
    AND l.suppkey = s.suppkey
    AND c.nationkey = s.nationkey
    AND s.nationkey = n.nationkey
    AND n.regionkey = r.regionkey
    AND r.name = 'ASIA'
    AND o.orderdate >= DATE '1994-01-01'
    AND o.orderdate < DATE '1994-01-01' + INTERVAL '1' YEAR
GROUP BY n.name
ORDER BY revenue DESC
