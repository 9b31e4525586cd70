DESCRIBE tpch.tiny.nation
