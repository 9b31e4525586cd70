-- A small join with criteria: German customers' urgent orders of March 1995
SELECT
    c.name AS customer,
    o.orderkey,
    o.orderdate,
    o.totalprice
FROM tpch.tiny.customer AS c
JOIN tpch.tiny.orders AS o ON o.custkey = c.custkey
JOIN tpch.tiny.nation AS n ON n.nationkey = c.nationkey
WHERE n.name = 'GERMANY'
    AND o.orderpriority = '1-URGENT'
    AND o.orderdate BETWEEN DATE '1995-01-01' AND DATE '1995-12-31'
ORDER BY o.totalprice DESC
LIMIT 20
