"""Runs client sessions in parallel, each on its own connection, and prints
what every statement did as JSON.

stdin: {"server": "http://host:port", "user": "u", "sessions": n,
        "api": "dbapi" | "sqlalchemy",
        "statements": ["... {s} ...", ...]}   ({s} is the session's number)
stdout: [[{"sql", "query_id", "rows", "error"}, ...] per session]

With "dbapi" each session is one trino.dbapi connection; with
"sqlalchemy" one SQLAlchemy Connection of the trino dialect (its pool is
sized so every session has its own DB-API connection). A failed
statement ends its session.
"""
import json
import sys
import threading
from urllib.parse import urlparse

import trino


def run_dbapi(spec, n, out):
    u = urlparse(spec["server"])
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=spec["user"],
        request_timeout=60, max_attempts=1,
    )
    for sql in spec["statements"]:
        sql = sql.replace("{s}", str(n))
        cur = conn.cursor()
        res = {"sql": sql, "query_id": None, "rows": None, "error": None}
        try:
            cur.execute(sql)
            res["rows"] = cur.fetchall()
        except Exception as e:  # the test asserts on it
            res["error"] = "%s: %s" % (type(e).__name__, e)
        res["query_id"] = cur.query_id
        out.append(res)
        if res["error"]:
            break
    conn.close()


def run_sqlalchemy(spec, n, out, engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        for sql in spec["statements"]:
            sql = sql.replace("{s}", str(n))
            res = {"sql": sql, "query_id": None, "rows": None, "error": None}
            try:
                r = conn.execute(text(sql))
                res["query_id"] = r.context.cursor.query_id
                res["rows"] = [list(row) for row in r.fetchall()] if r.returns_rows else None
            except Exception as e:
                res["error"] = "%s: %s" % (type(e).__name__, e)
            out.append(res)
            if res["error"]:
                break


def main():
    spec = json.load(sys.stdin)
    n = spec["sessions"]
    outs = [[] for _ in range(n)]
    engine = None
    if spec.get("api") == "sqlalchemy":
        from sqlalchemy import create_engine

        u = urlparse(spec["server"])
        engine = create_engine(
            "trino://%s@%s:%d/" % (spec["user"], u.hostname, u.port),
            pool_size=n, max_overflow=0,
            connect_args={"http_scheme": u.scheme, "max_attempts": 1, "request_timeout": 60},
        )
    threads = []
    for i in range(n):
        if engine is not None:
            t = threading.Thread(target=run_sqlalchemy, args=(spec, i, outs[i], engine))
        else:
            t = threading.Thread(target=run_dbapi, args=(spec, i, outs[i]))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(120)
    json.dump(outs, sys.stdout, default=str)


if __name__ == "__main__":
    main()
