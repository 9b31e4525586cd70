-- TPC-H Q3: shipping priority (SEGMENT = BUILDING, DATE = 1995-03-15)
SELECT
    l.orderkey AS l_orderkey,
    sum(l.extendedprice * (1 - l.discount)) AS revenue,
    o.orderdate AS o_orderdate,
    o.shippriority AS o_shippriority
FROM
    tpch.tiny.customer AS c,
    tpch.tiny.orders AS o,
    tpch.tiny.lineitem AS l
WHERE c.mktsegment = 'BUILDING'
    AND c.custkey = o.custkey
    AND l.orderkey = o.orderkey
    AND o.orderdate < DATE '1995-03-15'
    AND l.shipdate > DATE '1995-03-15'
GROUP BY l.orderkey, o.orderdate, o.shippriority
ORDER BY revenue DESC, o_orderdate
LIMIT 10
