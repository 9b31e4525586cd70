-- The distinct ship modes and how many line items use each
SELECT shipmode, count(*) AS lines
FROM tpch.tiny.lineitem
GROUP BY shipmode
ORDER BY shipmode
