"""Runs queries through the Python trino client with authentication over
HTTPS and prints JSON.

stdin: {"server": "https://host:port", "user": "u" (X-Trino-User, or null),
        "basic": ["user", "password"] (optional),
        "jwt": "token" (optional),
        "ca": "/path/ca.pem" (the CA the gateway's certificate chains to),
        "queries": ["sql", ...]}
stdout: [{"rows", "error"}] in the same order.
"""
import json
import sys
from urllib.parse import urlparse

import trino
from trino.auth import BasicAuthentication, JWTAuthentication


def main():
    spec = json.load(sys.stdin)
    u = urlparse(spec["server"])
    auth = None
    if spec.get("basic"):
        auth = BasicAuthentication(*spec["basic"])
    elif spec.get("jwt"):
        auth = JWTAuthentication(spec["jwt"])
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=spec.get("user"),
        auth=auth, verify=spec["ca"], request_timeout=60, max_attempts=1,
    )
    out = []
    for sql in spec["queries"]:
        cur = conn.cursor()
        res = {"rows": None, "error": None}
        try:
            cur.execute(sql)
            res["rows"] = cur.fetchall()
        except Exception as e:  # the test asserts on the message
            res["error"] = "%s: %s" % (type(e).__name__, e)
        out.append(res)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
