-- A point lookup of one order on the 1.5M-row sf1 orders table
SELECT *
FROM tpch.sf1.orders
WHERE orderkey = 7
