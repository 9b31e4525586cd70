-- GROUP BY with HAVING: customers with more than 20 orders
SELECT
    custkey,
    count(*) AS orders,
    sum(totalprice) AS total
FROM tpch.tiny.orders
GROUP BY custkey
HAVING count(*) > 20
ORDER BY orders DESC, custkey
