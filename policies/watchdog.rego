# Switchyard watchdog: what to do about a query while it runs. Every
# protection.watchdog.interval the control plane evaluates
# data.switchyard.watchdog.decision for each running query of the fleet,
# with input.query = the query's statistics (docs/protection.md lists the
# fields: elapsed and CPU time, memory, bytes read, output-to-input
# explosion, progress, blocked reasons, stages and skew), input.cluster,
# input.group, input.fingerprint and input.time. Each action is taken once
# per query and rule. Thresholds are in data.switchyard.settings.watchdog.
package switchyard.watchdog

import rego.v1

s := data.switchyard.settings.watchdog

q := input.query

exempt if q.user in s.exempt_users

exempt if q.source in s.exempt_sources

# A runaway: CPU time far over what any interactive query needs.
runaway if q.cpuSeconds > s.kill_cpu_seconds

actions contains {
	"action": "kill", "rule": "runaway-cpu",
	"reason": sprintf("the query used %d s of CPU in %d s, over the limit of %d s (rule runaway-cpu); make it more selective or ask for the big-query group", [round(q.cpuSeconds), round(q.elapsedSeconds), s.kill_cpu_seconds]),
} if {
	not exempt
	runaway
}

# Its user is throttled for a while (off when throttle_for is "").
actions contains {
	"action": "throttle", "rule": "runaway-cpu", "for": s.throttle_for, "maxRunning": s.throttle_max_running,
	"reason": sprintf("a query of %s used %d s of CPU (rule runaway-cpu): at most %d running queries for %s", [q.user, round(q.cpuSeconds), s.throttle_max_running, s.throttle_for]),
} if {
	not exempt
	runaway
	s.throttle_for != ""
}

# And its shape is quarantined for a while (off when quarantine_for is "").
actions contains {
	"action": "quarantine", "rule": "runaway-cpu", "for": s.quarantine_for,
	"reason": sprintf("a query of this shape used %d s of CPU on cluster %s (rule runaway-cpu)", [round(q.cpuSeconds), input.cluster]),
} if {
	not exempt
	runaway
	s.quarantine_for != ""
}

# Running far too long.
actions contains {
	"action": "kill", "rule": "max-elapsed",
	"reason": sprintf("the query ran %d s, over the limit of %d s (rule max-elapsed)", [round(q.elapsedSeconds), s.kill_elapsed_seconds]),
} if {
	not exempt
	q.elapsedSeconds > s.kill_elapsed_seconds
}

# Skew: one task of a stage has most of its rows (the stage runs as long
# as its slowest task). Flagged with the stage and the spread.
actions contains {
	"action": "warn", "rule": "skewed-stage",
	# OPA hands sprintf a whole number as an integer, which %f refuses
	# (a task with 100% of the rows printed "%!f(int64=100)"): numbers are
	# rounded and printed with %d and %v.
	"reason": sprintf("stage %s is skewed: its largest task has %d%% of the stage's %d rows (spread %v over %d tasks)", [q.skew.stageId, round(q.skew.topTaskShare * 100), q.skew.rows, round(q.skew.spread * 100) / 100, q.skew.tasks]),
} if {
	q.skew.spread >= s.skew_spread
	q.skew.rows >= s.skew_min_rows
}

# Output-to-input explosion: a stage produces far more rows than it reads
# (a join on a non-key column, a missing join criterion).
exploding contains st if {
	some st in q.stages
	st.rows >= s.explosion_min_rows
	st.explosion >= s.explosion_ratio
}

actions contains {
	"action": "warn", "rule": "explosion",
	"reason": sprintf("stage %s produced %d rows from %d (%dx): check the join criteria", [st.stageId, st.outputRows, st.rows, round(st.explosion)]),
} if {
	some st in exploding
}

# Memory: a query holding more than the warning threshold.
actions contains {
	"action": "warn", "rule": "memory",
	"reason": sprintf("the query holds %d MB of memory at its peak, over %d MB", [round(q.peakTotalMemoryBytes / 1000000), round(s.warn_memory_bytes / 1000000)]),
} if {
	q.peakTotalMemoryBytes > s.warn_memory_bytes
}

decision := {
	"actions": actions,
	"reportOnly": s.report_only,
}
