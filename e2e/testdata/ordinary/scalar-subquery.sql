-- A scalar subquery in WHERE: suppliers of Japan richer than the average supplier
SELECT s.suppkey, s.name, s.acctbal
FROM tpch.tiny.supplier AS s
WHERE s.nationkey = (SELECT nationkey FROM tpch.tiny.nation WHERE name = 'JAPAN')
    AND s.acctbal > (SELECT avg(acctbal) FROM tpch.tiny.supplier)
ORDER BY s.acctbal DESC
