package workload

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// QuotaMessage says which rate or quota a submission ran into and when it
// resets.
func QuotaMessage(class, user string, q *store.QuotaHit) string {
	if q == nil {
		return "a quota of workload class " + class + " is used up"
	}
	who := "workload class " + class
	if q.Scope == "user" {
		who = "user " + user + " in workload class " + class
	}
	var what string
	switch q.Kind {
	case "rate":
		what = fmt.Sprintf("the rate of %s is %s queries per minute and %s were submitted this minute", who, number(q.Limit), number(q.Used))
	case "cpu":
		what = fmt.Sprintf("the CPU quota of %s is %s CPU seconds per hour and %s are used", who, number(q.Limit), number(q.Used))
	case "bytes":
		what = fmt.Sprintf("the scan quota of %s is %s per hour and %s were read", who, trino.FormatDataSize(int64(q.Limit)), trino.FormatDataSize(int64(q.Used)))
	default:
		what = "a quota of " + who + " is used up"
	}
	return fmt.Sprintf("%s; it resets at %s (in %s)", what, q.Resets.UTC().Format("15:04:05 MST"), time.Until(q.Resets).Round(time.Second))
}

// QueueFullMessage names the queue limit a submission ran into.
func QueueFullMessage(class, user string, l *store.LimitHit) string {
	if l == nil {
		return "the gateway's queue is full"
	}
	switch l.Scope {
	case "user":
		return fmt.Sprintf("too many queued queries for user %s in workload class %s (perUser.maxQueued %d)", user, class, l.Limit)
	case "class":
		return fmt.Sprintf("too many queued queries for workload class %s (maxQueued %d)", class, l.Limit)
	}
	return fmt.Sprintf("the gateway's queue is full (%d queries wait; governance.maxQueued)", l.Limit)
}

// WaitMessage says where a queued query is and why it waits.
func WaitMessage(class, user string, position int, l *store.LimitHit) string {
	msg := fmt.Sprintf("queued by the gateway at position %d", position)
	if class != "" {
		msg += " in workload class " + class
	}
	if l == nil {
		return msg
	}
	switch l.Scope {
	case "user":
		return fmt.Sprintf("%s: user %s has %d running queries, the most the class allows per user", msg, user, l.Limit)
	case "throttled":
		return fmt.Sprintf("%s: user %s is throttled by query protection to %d running queries", msg, user, l.Limit)
	case "class":
		return fmt.Sprintf("%s: the class has %d running queries, its limit", msg, l.Limit)
	case "cluster":
		return msg + ": the clusters it may run on are at their caps of running queries"
	}
	return msg + ": queries queued before it go first"
}

// WaitReason says why a queued entry waits, from the running counts its
// poll (or a snapshot) read and the limits in use.
func WaitReason(cfg *governance.Config, l *store.Limits, e store.QueueEntry, position, classRunning, userRunning int, clusters map[string]int) string {
	if e.State != store.EntryQueued {
		return fmt.Sprintf("admitted by the gateway; being submitted to its cluster (in workload class %s)", classLabel(e.Class))
	}
	var hit *store.LimitHit
	if t, ok := l.Throttled[e.User]; ok && userRunning >= t {
		hit = &store.LimitHit{Scope: "throttled", Limit: t}
	} else if cl, ok := l.Classes[e.Class]; ok {
		switch {
		case cl.MaxRunning > 0 && classRunning >= cl.MaxRunning:
			hit = &store.LimitHit{Scope: "class", Limit: cl.MaxRunning}
		case cl.UserRunning > 0 && userRunning >= cl.UserRunning:
			hit = &store.LimitHit{Scope: "user", Limit: cl.UserRunning}
		}
	}
	if hit == nil && len(clusters) > 0 {
		full := true
		for k, n := range clusters {
			if c := cfg.ClusterCap(k); c <= 0 || n < c {
				full = false
			}
		}
		if full {
			hit = &store.LimitHit{Scope: "cluster"}
		}
	}
	if hit == nil {
		hit = &store.LimitHit{Scope: "queue"}
	}
	return WaitMessage(e.Class, e.User, position, hit)
}

// number writes a count or an amount of seconds plainly (at most three
// decimals, never an exponent).
func number(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}
