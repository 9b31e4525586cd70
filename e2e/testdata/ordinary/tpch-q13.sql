-- TPC-H Q13: customer distribution (WORD1 = special, WORD2 = requests)
SELECT
    c_count,
    count(*) AS custdist
FROM (
    SELECT
        c.custkey,
        count(o.orderkey)
    FROM tpch.tiny.customer AS c
    LEFT OUTER JOIN tpch.tiny.orders AS o
        ON c.custkey = o.custkey
        AND o.comment NOT LIKE '%special%requests%'
    GROUP BY c.custkey
) AS c_orders (c_custkey, c_count)
GROUP BY c_count
ORDER BY custdist DESC, c_count DESC
