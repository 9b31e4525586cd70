-- TPC-H Q16: parts/supplier relationship (BRAND = Brand#45, TYPE = MEDIUM POLISHED, SIZE = 49, 14, 23, 45, 19, 3, 36, 9)
SELECT
    p.brand AS p_brand,
    p.type AS p_type,
    p.size AS p_size,
    count(DISTINCT ps.suppkey) AS supplier_cnt
FROM
    tpch.tiny.partsupp AS ps,
    tpch.tiny.part AS p
WHERE p.partkey = ps.partkey
    AND p.brand <> 'Brand#45'
    AND p.type NOT LIKE 'MEDIUM POLISHED%'
    AND p.size IN (49, 14, 23, 45, 19, 3, 36, 9)
    AND ps.suppkey NOT IN (
        SELECT s.suppkey
        FROM tpch.tiny.supplier AS s
        WHERE s.comment LIKE '%Customer%Complaints%'
    )
GROUP BY p.brand, p.type, p.size
ORDER BY supplier_cnt DESC, p_brand, p_type, p_size
