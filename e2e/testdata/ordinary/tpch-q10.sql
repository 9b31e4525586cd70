-- TPC-H Q10: returned item reporting (DATE = 1993-10-01)
SELECT
    c.custkey AS c_custkey,
    c.name AS c_name,
    sum(l.extendedprice * (1 - l.discount)) AS revenue,
    c.acctbal AS c_acctbal,
    n.name AS n_name,
    c.address AS c_address,
    c.phone AS c_phone,
    c.comment AS c_comment
FROM
    tpch.tiny.customer AS c,
    tpch.tiny.orders AS o,
    tpch.tiny.lineitem AS l,
    tpch.tiny.nation AS n
WHERE c.custkey = o.custkey
    AND l.orderkey = o.orderkey
    AND o.orderdate >= DATE '1993-10-01'
    AND o.orderdate < DATE '1993-10-01' + INTERVAL '3' MONTH
    AND l.returnflag = 'R'
    AND c.nationkey = n.nationkey
GROUP BY c.custkey, c.name, c.acctbal, c.phone, n.name, c.address, c.comment
ORDER BY revenue DESC
LIMIT 20
