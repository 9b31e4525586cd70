"""Runs queries through the Python trino client (DB-API), one at a time, as
they arrive on stdin, and prints one JSON line per query as it ends.

argv: server user max_attempts
stdin: one JSON object per line: {"tag": "...", "sql": "..."}
stdout: one JSON object per query: {"tag", "query_id", "rows", "error",
        "start", "end"}; query_id is null when the submission itself failed.
"""
import json
import sys
import time
from urllib.parse import urlparse

import trino


def main():
    server, user, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    u = urlparse(server)
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=user,
        max_attempts=attempts, request_timeout=60,
    )
    for line in sys.stdin:
        q = json.loads(line)
        cur = conn.cursor()
        res = {"tag": q["tag"], "query_id": None, "rows": None, "error": None, "start": time.time()}
        try:
            cur.execute(q["sql"])
            res["rows"] = len(cur.fetchall())
        except Exception as e:  # the test classifies the message
            res["error"] = "%s: %s" % (type(e).__name__, e)
        res["query_id"] = cur.query_id
        res["end"] = time.time()
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
