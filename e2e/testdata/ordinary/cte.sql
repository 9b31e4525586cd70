-- A CTE: monthly revenue of 1996 and its change from the month before
WITH monthly AS (
    SELECT
        date_trunc('month', orderdate) AS month,
        sum(totalprice) AS revenue
    FROM tpch.tiny.orders
    WHERE orderdate >= DATE '1996-01-01' AND orderdate < DATE '1997-01-01'
    GROUP BY 1
)
SELECT
    month,
    revenue,
    revenue - lag(revenue) OVER (ORDER BY month) AS change
FROM monthly
ORDER BY month
