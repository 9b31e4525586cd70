"""The soak's Python worker: runs queries one at a time with the Python
trino client (DB-API, max_attempts=1, so no failure is hidden by a client
retry) and reports each outcome as soon as it ends.

stdin, one JSON object per line:
  {"id": 7, "server": "http://host:port", "user": "u", "txn": false,
   "statements": ["SELECT ..."], "timeout": 30}
stdout, one JSON object per line, in the same order:
  {"id": 7, "query_ids": [...], "prefixes": ["/_sy/a/a-1/", ...],
   "rows": 25, "digest": "sha256 hex", "error_name": null | "NAME",
   "error": null | "message", "clear": true when the error is Trino-shaped}

prefixes are the /_sy/{cluster}/{coordinator}/ prefixes of every nextUri
the client followed, in order (the cluster the query ran on). The digest is
order independent: the sorted JSON rows of every statement, hashed.
"""
import hashlib
import json
import sys
from urllib.parse import urlparse

import requests
import trino
from trino.transaction import IsolationLevel


class RecordingSession(requests.Session):
    """A requests session that remembers the gateway prefix of every URL."""

    def __init__(self):
        super().__init__()
        self.prefixes = []

    def request(self, method, url, *args, **kwargs):
        path = urlparse(url).path
        if path.startswith("/_sy/"):
            parts = path.split("/")
            if len(parts) > 3:
                p = "/_sy/%s/%s/" % (parts[2], parts[3])
                if not self.prefixes or self.prefixes[-1] != p:
                    self.prefixes.append(p)
        return super().request(method, url, *args, **kwargs)


def digest_rows(h, rows):
    for line in sorted(json.dumps(r, default=str) for r in rows):
        h.update(line.encode())
        h.update(b"\n")
    h.update(b"--\n")


def error_name(e):
    if isinstance(e, trino.exceptions.TrinoQueryError):
        return e.error_name or "TRINO_ERROR"
    if isinstance(e, requests.exceptions.Timeout):
        return "CLIENT_TIMEOUT"
    if isinstance(e, requests.exceptions.ConnectionError):
        return "CONNECTION_ERROR"
    if isinstance(e, trino.exceptions.HttpError):
        return "HTTP_ERROR"
    return type(e).__name__


def run(spec):
    u = urlparse(spec["server"])
    session = RecordingSession()
    conn = trino.dbapi.connect(
        host=u.hostname, port=u.port, http_scheme=u.scheme, user=spec["user"],
        http_session=session, max_attempts=1,
        request_timeout=spec.get("timeout", 30),
        isolation_level=IsolationLevel.REPEATABLE_READ if spec.get("txn") else IsolationLevel.AUTOCOMMIT,
    )
    out = {"id": spec["id"], "query_ids": [], "prefixes": [], "rows": 0,
           "digest": None, "error_name": None, "error": None, "clear": False}
    h = hashlib.sha256()
    cur = None
    try:
        for sql in spec["statements"]:
            cur = conn.cursor()
            cur.execute(sql)
            rows = cur.fetchall()
            out["query_ids"].append(cur.query_id)
            out["rows"] += len(rows)
            digest_rows(h, rows)
            cur = None
        if spec.get("txn"):
            conn.commit()
        out["digest"] = h.hexdigest()
    except Exception as e:  # every failure is an outcome the soak counts
        if cur is not None and cur.query_id:
            out["query_ids"].append(cur.query_id)
        out["error_name"] = error_name(e)
        out["clear"] = isinstance(e, trino.exceptions.TrinoQueryError)
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            conn.close()
        except Exception:
            pass
    out["prefixes"] = session.prefixes
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        res = run(json.loads(line))
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
