-- TPC-H Q15: top supplier (DATE = 1996-01-01); the spec's view revenue0 as a WITH clause
WITH revenue0 (supplier_no, total_revenue) AS (
    SELECT
        suppkey,
        sum(extendedprice * (1 - discount))
    FROM tpch.tiny.lineitem
    WHERE shipdate >= DATE '1996-01-01'
        AND shipdate < DATE '1996-01-01' + INTERVAL '3' MONTH
    GROUP BY suppkey
)
SELECT
    s.suppkey AS s_suppkey,
    s.name AS s_name,
    s.address AS s_address,
    s.phone AS s_phone,
    r.total_revenue
FROM
    tpch.tiny.supplier AS s,
    revenue0 AS r
WHERE s.suppkey = r.supplier_no
    AND r.total_revenue = (
        SELECT max(total_revenue)
        FROM revenue0
    )
ORDER BY s_suppkey
