-- TPC-H Q18: large volume customer (QUANTITY = 300)
SELECT
    c.name AS c_name,
    c.custkey AS c_custkey,
    o.orderkey AS o_orderkey,
    o.orderdate AS o_orderdate,
    o.totalprice AS o_totalprice,
    sum(l.quantity) AS sum_qty
FROM
    tpch.tiny.customer AS c,
    tpch.tiny.orders AS o,
    tpch.tiny.lineitem AS l
WHERE o.orderkey IN (
        SELECT l2.orderkey
        FROM tpch.tiny.lineitem AS l2
        GROUP BY l2.orderkey
        HAVING sum(l2.quantity) > 300
    )
    AND c.custkey = o.custkey
    AND o.orderkey = l.orderkey
GROUP BY c.name, c.custkey, o.orderkey, o.orderdate, o.totalprice
ORDER BY o_totalprice DESC, o_orderdate
LIMIT 100
