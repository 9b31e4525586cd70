"""Runs statements in one explicit transaction with the Python trino client
and prints the query IDs as JSON.

stdin: {"server": "http://host:port", "user": "u", "statements": ["...", ...]}
stdout: {"query_ids": [...], "error": null | "..."}
"""
import json
import sys
from urllib.parse import urlparse

import trino
from trino.transaction import IsolationLevel


def main():
    spec = json.load(sys.stdin)
    u = urlparse(spec["server"])
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=spec["user"],
        isolation_level=IsolationLevel.REPEATABLE_READ, request_timeout=60,
    )
    out = {"query_ids": [], "error": None}
    try:
        cur = conn.cursor()
        for sql in spec["statements"]:
            cur.execute(sql)
            cur.fetchall()
            out["query_ids"].append(cur.query_id)
        conn.commit()
    except Exception as e:  # the test asserts on it
        out["error"] = "%s: %s" % (type(e).__name__, e)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
