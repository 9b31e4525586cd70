-- TPC-H Q4: order priority checking (DATE = 1993-07-01)
SELECT
    o.orderpriority AS o_orderpriority,
    count(*) AS order_count
FROM tpch.tiny.orders AS o
WHERE o.orderdate >= DATE '1993-07-01'
    AND o.orderdate < DATE '1993-07-01' + INTERVAL '3' MONTH
    AND EXISTS (
        SELECT *
        FROM tpch.tiny.lineitem AS l
        WHERE l.orderkey = o.orderkey
            AND l.commitdate < l.receiptdate
    )
GROUP BY o.orderpriority
ORDER BY o_orderpriority
