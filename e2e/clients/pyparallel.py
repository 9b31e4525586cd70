"""Runs queries at once through the Python trino client (DB-API), one
thread and one connection each, and prints JSON.

stdin: {"server": "http://host:port",
        "queries": [{"tag": "...", "sql": "...", "user": "...", "source": "..."}]}
stdout: [{"tag", "user", "query_id", "rows", "error", "started", "ended"}]
in the same order (started and ended are Unix seconds).
"""
import json
import sys
import threading
import time
from urllib.parse import urlparse

import trino


def run(server, q, out):
    u = urlparse(server)
    res = {"tag": q["tag"], "user": q["user"], "query_id": None, "rows": None, "error": None,
           "started": time.time(), "ended": None}
    try:
        conn = trino.dbapi.connect(
            host=u.hostname, port=u.port, http_scheme=u.scheme, user=q["user"],
            source=q.get("source") or trino.constants.DEFAULT_SOURCE, request_timeout=120,
        )
        cur = conn.cursor()
        cur.execute(q["sql"])
        res["rows"] = cur.fetchall()
        res["query_id"] = cur.query_id
    except Exception as e:  # the test asserts on the message
        res["error"] = "%s: %s" % (type(e).__name__, e)
    res["ended"] = time.time()
    out.append(res)


def main():
    spec = json.load(sys.stdin)
    results = [[] for _ in spec["queries"]]
    threads = [threading.Thread(target=run, args=(spec["server"], q, results[i]))
               for i, q in enumerate(spec["queries"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump([r[0] for r in results], sys.stdout, default=str)


if __name__ == "__main__":
    main()
