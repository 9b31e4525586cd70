EXPLAIN
SELECT n.name, count(*) AS customers
FROM tpch.tiny.customer AS c
JOIN tpch.tiny.nation AS n ON n.nationkey = c.nationkey
GROUP BY n.name
