-- A window function: the three customers with the largest balance in each nation
SELECT nation, customer, acctbal, rnk
FROM (
    SELECT
        n.name AS nation,
        c.name AS customer,
        c.acctbal,
        rank() OVER (PARTITION BY n.name ORDER BY c.acctbal DESC) AS rnk
    FROM tpch.tiny.customer AS c
    JOIN tpch.tiny.nation AS n ON n.nationkey = c.nationkey
) AS ranked
WHERE rnk <= 3
ORDER BY nation, rnk
