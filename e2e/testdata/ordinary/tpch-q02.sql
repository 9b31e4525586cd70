-- TPC-H Q2: minimum cost supplier (SIZE = 15, TYPE = BRASS, REGION = EUROPE)
SELECT
    s.acctbal AS s_acctbal,
    s.name AS s_name,
    n.name AS n_name,
    p.partkey AS p_partkey,
    p.mfgr AS p_mfgr,
    s.address AS s_address,
    s.phone AS s_phone,
    s.comment AS s_comment
FROM
    tpch.tiny.part AS p,
    tpch.tiny.supplier AS s,
    tpch.tiny.partsupp AS ps,
    tpch.tiny.nation AS n,
    tpch.tiny.region AS r
WHERE p.partkey = ps.partkey
    AND s.suppkey = ps.suppkey
    AND p.size = 15
    AND p.type LIKE '%BRASS'
    AND s.nationkey = n.nationkey
    AND n.regionkey = r.regionkey
    AND r.name = 'EUROPE'
    AND ps.supplycost = (
        SELECT min(ps2.supplycost)
        FROM
            tpch.tiny.partsupp AS ps2,
            tpch.tiny.supplier AS s2,
            tpch.tiny.nation AS n2,
            tpch.tiny.region AS r2
        WHERE p.partkey = ps2.partkey
            AND s2.suppkey = ps2.suppkey
            AND s2.nationkey = n2.nationkey
            AND n2.regionkey = r2.regionkey
            AND r2.name = 'EUROPE'
    )
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
LIMIT 100
