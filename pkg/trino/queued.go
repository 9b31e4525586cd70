package trino

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// QueuePrefix is the gateway's path for the queries its queue holds: a
// queued query's nextUri is QueuePrefix + "/v1/statement/queued/{id}/{slug}/{token}".
// ("_queue" cannot be a cluster name, so it never meets a coordinator's
// prefix.)
const QueuePrefix = RoutePrefix + "_queue"

// QueueURI is the nextUri of a query in the gateway's queue.
func QueueURI(base, id, slug string, token int64) string {
	return base + QueuePrefix + "/v1/statement/queued/" + url.PathEscape(id) + "/" + url.PathEscape(slug) + "/" + strconv.FormatInt(token, 10)
}

// ParseQueueURI reads a queue path (without scheme and host): ok is false
// for anything that is not QueuePrefix/v1/statement/queued/{id}/{slug}/{token}.
func ParseQueueURI(path string) (id, slug string, token int64, ok bool) {
	rest, found := strings.CutPrefix(path, QueuePrefix+"/v1/statement/queued/")
	if !found {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", 0, false
	}
	t, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || t < 0 || strconv.FormatInt(t, 10) != parts[2] {
		return "", "", 0, false
	}
	if !ValidQueryID(parts[0]) || !validSlug(parts[1]) {
		return "", "", 0, false
	}
	return parts[0], parts[1], t, true
}

func validSlug(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// queuedStats are the stats of a query in the gateway's queue: Trino's
// fields (state QUEUED) and two of the gateway's, which say where it is
// and why it waits (clients keep fields they do not know, or ignore them;
// the Python client's cursor.stats shows them).
type queuedStats struct {
	failedStats
	QueuePosition int    `json:"queuePosition"`
	QueueReason   string `json:"queueReason"`
}

type queuedResults struct {
	ID       string      `json:"id"`
	InfoURI  string      `json:"infoUri"`
	NextURI  string      `json:"nextUri"`
	Stats    queuedStats `json:"stats"`
	Warnings []struct{}  `json:"warnings"`
}

// QueuedQueryResults renders a QueryResults document in the QUEUED state
// for a query that waits in the gateway: every client keeps polling its
// nextUri, as it does for a query queued in Trino. Its place and why it
// waits are in the stats, not in a warning: the trino CLI expects a
// query's warnings only to grow from one answer to the next, and the
// coordinator's first answer, which follows, has none.
func QueuedQueryResults(queryID, infoURI, nextURI string, elapsedMillis, position int, reason string) []byte {
	r := queuedResults{
		ID: queryID, InfoURI: infoURI, NextURI: nextURI,
		Stats: queuedStats{
			failedStats:   failedStats{State: "QUEUED", Queued: true, QueuedTimeMillis: elapsedMillis, ElapsedTimeMillis: elapsedMillis},
			QueuePosition: position, QueueReason: reason,
		},
		Warnings: []struct{}{},
	}
	b, err := json.Marshal(r)
	if err != nil { // only strings and ints
		panic(err)
	}
	return b
}
