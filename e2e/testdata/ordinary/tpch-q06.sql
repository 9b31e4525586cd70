-- TPC-H Q6: forecasting revenue change (DATE = 1994-01-01, DISCOUNT = 0.06, QUANTITY = 24)
SELECT
    sum(extendedprice * discount) AS revenue
FROM tpch.tiny.lineitem
WHERE shipdate >= DATE '1994-01-01'
    AND shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR
    AND discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01
    AND quantity < 24
