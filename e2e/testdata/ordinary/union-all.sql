-- UNION ALL of filtered queries: the largest order of each of two days
SELECT 'urgent' AS kind, orderkey, totalprice
FROM tpch.tiny.orders
WHERE orderpriority = '1-URGENT' AND orderdate = DATE '1995-03-15'
UNION ALL
SELECT 'low' AS kind, orderkey, totalprice
FROM tpch.tiny.orders
WHERE orderpriority = '5-LOW' AND orderdate = DATE '1995-03-15'
ORDER BY kind, orderkey
