"""Runs queries through the Python trino client (DB-API) and prints JSON.

stdin: {"server": "http://host:port", "user": "u", "headers": {...},
        "max_attempts": n (optional, the client's default 3; 1: never retries),
        "source": "..." (optional X-Trino-Source),
        "queries": [{"tag": "...", "sql": "..."}]}
stdout: [{"tag", "query_id", "rows", "error"}] in the same order.
"""
import json
import sys
from urllib.parse import urlparse

import trino


def main():
    spec = json.load(sys.stdin)
    u = urlparse(spec["server"])
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=spec["user"],
        http_headers=spec.get("headers") or None, request_timeout=60,
        max_attempts=spec.get("max_attempts", trino.constants.DEFAULT_MAX_ATTEMPTS),
        source=spec.get("source") or trino.constants.DEFAULT_SOURCE,
    )
    out = []
    for q in spec["queries"]:
        cur = conn.cursor()
        res = {"tag": q["tag"], "query_id": None, "rows": None, "error": None}
        try:
            cur.execute(q["sql"])
            res["rows"] = cur.fetchall()
        except Exception as e:  # the test asserts on the message
            res["error"] = "%s: %s" % (type(e).__name__, e)
        res["query_id"] = cur.query_id
        out.append(res)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
