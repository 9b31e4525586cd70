"""Runs statements in one explicit transaction with the Python trino client
and prints the query IDs as JSON.

stdin: {"server": "http://host:port", "user": "u", "statements": ["...", ...],
        "pause_after": k, "pause_file": path}   (both optional)
stdout: {"query_ids": [...], "error": null | "..."}

With pause_after, after k statements the client writes path + ".ready"
and waits (60 s at most) for path to exist before it goes on.
"""
import os
import time
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
        for i, sql in enumerate(spec["statements"]):
            if spec.get("pause_file") and i == spec.get("pause_after"):
                open(spec["pause_file"] + ".ready", "w").close()
                deadline = time.time() + 60
                while not os.path.exists(spec["pause_file"]) and time.time() < deadline:
                    time.sleep(0.05)
            cur.execute(sql)
            cur.fetchall()
            out["query_ids"].append(cur.query_id)
        conn.commit()
    except Exception as e:  # the test asserts on it
        out["error"] = "%s: %s" % (type(e).__name__, e)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
