SELECT * FROM tpch.sf1.lineitem LIMIT 10
