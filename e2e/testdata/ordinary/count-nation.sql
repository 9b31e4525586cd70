SELECT count(*) FROM tpch.tiny.nation
