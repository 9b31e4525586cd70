-- TPC-H Q9: product type profit measure (COLOR = green)
SELECT
    nation,
    o_year,
    sum(amount) AS sum_profit
FROM (
    SELECT
        n.name AS nation,
        extract(YEAR FROM o.orderdate) AS o_year,
        l.extendedprice * (1 - l.discount) - ps.supplycost * l.quantity AS amount
    FROM
        tpch.tiny.part AS p,
        tpch.tiny.supplier AS s,
        tpch.tiny.lineitem AS l,
        tpch.tiny.partsupp AS ps,
        tpch.tiny.orders AS o,
        tpch.tiny.nation AS n
    WHERE s.suppkey = l.suppkey
        AND ps.suppkey = l.suppkey
        AND ps.partkey = l.partkey
        AND p.partkey = l.partkey
        AND o.orderkey = l.orderkey
        AND s.nationkey = n.nationkey
        AND p.name LIKE '%green%'
) AS profit
GROUP BY nation, o_year
ORDER BY nation, o_year DESC
