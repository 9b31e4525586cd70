-- TPC-H Q22: global sales opportunity (I1..I7 = 13, 31, 23, 29, 30, 18, 17)
SELECT
    cntrycode,
    count(*) AS numcust,
    sum(c_acctbal) AS totacctbal
FROM (
    SELECT
        substring(c.phone, 1, 2) AS cntrycode,
        c.acctbal AS c_acctbal
    FROM tpch.tiny.customer AS c
    WHERE substring(c.phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17')
        AND c.acctbal > (
            SELECT avg(c2.acctbal)
            FROM tpch.tiny.customer AS c2
            WHERE c2.acctbal > 0.00
                AND substring(c2.phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17')
        )
        AND NOT EXISTS (
            SELECT *
            FROM tpch.tiny.orders AS o
            WHERE o.custkey = c.custkey
        )
) AS custsale
GROUP BY cntrycode
ORDER BY cntrycode
