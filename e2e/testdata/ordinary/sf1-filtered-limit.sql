-- A filtered look at a large table: the biggest orders of one day on sf1
SELECT orderkey, custkey, totalprice, orderpriority
FROM tpch.sf1.orders
WHERE orderdate = DATE '1995-03-15' AND totalprice > 300000
ORDER BY totalprice DESC
LIMIT 10
