package switchyard.watchdog_test

import rego.v1

import data.switchyard.watchdog

# The settings the tests assume (the shipped defaults of data.json), so
# that an operator's own thresholds do not fail the tests.
settings := {"kill_cpu_seconds": 3600, "kill_elapsed_seconds": 21600, "throttle_for": "", "throttle_max_running": 1, "quarantine_for": "", "skew_spread": 1.5, "skew_min_rows": 1000000, "explosion_ratio": 1000, "explosion_min_rows": 1000000, "warn_memory_bytes": 10000000000, "exempt_users": [], "exempt_sources": [], "report_only": false}

wd(d) := object.union(settings, d)

query(o) := object.union(
	{"queryId": "q1", "user": "alice", "source": "trino-cli", "elapsedSeconds": 30, "cpuSeconds": 20, "peakTotalMemoryBytes": 1000000, "stages": []},
	o,
)

decide(o) := d if {
	d := watchdog.decision with input as {"query": query(o), "cluster": "a", "group": "adhoc", "fingerprint": "f00d"}
		with data.switchyard.settings.watchdog as settings
}

rules(d) := {a.rule | some a in d.actions}

test_ordinary_query_untouched if {
	d := decide({})
	count(d.actions) == 0
	not d.reportOnly
}

test_runaway_killed_with_its_figures if {
	d := decide({"cpuSeconds": 4000, "elapsedSeconds": 600})
	some a in d.actions
	a.action == "kill"
	a.rule == "runaway-cpu"
	contains(a.reason, "used 4000 s of CPU in 600 s, over the limit of 3600 s")
	rules(d) == {"runaway-cpu"} # no throttle, no quarantine by default
}

test_runaway_throttle_and_quarantine_when_configured if {
	d := watchdog.decision with input as {"query": query({"cpuSeconds": 4000}), "cluster": "a", "fingerprint": "f"}
		with data.switchyard.settings.watchdog as wd({"throttle_for": "10m", "quarantine_for": "1h"})
	{a.action | some a in d.actions} == {"kill", "throttle", "quarantine"}
	some t in d.actions
	t.action == "throttle"
	t["for"] == "10m"
	t.maxRunning == 1
}

test_exempt_user_not_killed if {
	d := watchdog.decision with input as {"query": query({"cpuSeconds": 4000, "user": "etl-svc"}), "cluster": "a"}
		with data.switchyard.settings.watchdog as wd({"exempt_users": ["etl-svc"]})
	count(d.actions) == 0
}

test_long_running_killed if {
	d := decide({"elapsedSeconds": 30000})
	"max-elapsed" in rules(d)
}

test_skewed_stage_flagged_with_stage_and_spread if {
	d := decide({"skew": {"stageId": "20261204_1.1", "spread": 1.99, "topTaskShare": 0.995, "rows": 5264863, "tasks": 2}})
	some a in d.actions
	a.action == "warn"
	a.rule == "skewed-stage"
	contains(a.reason, "stage 20261204_1.1 is skewed")
	contains(a.reason, "spread 1.99 over 2 tasks")
	contains(a.reason, "100% of")
}

# Whole numbers (all the rows on one task: share 1, spread 2) print as
# numbers, not as a formatting error.
test_skew_reason_with_whole_numbers if {
	d := decide({"skew": {"stageId": "q.1", "spread": 2, "topTaskShare": 1, "rows": 2753246, "tasks": 2}})
	some a in d.actions
	a.rule == "skewed-stage"
	a.reason == "stage q.1 is skewed: its largest task has 100% of the stage's 2753246 rows (spread 2 over 2 tasks)"
}

test_explosion_reason_with_whole_numbers if {
	d := decide({"stages": [{"stageId": "s.2", "rows": 2000000, "outputRows": 4000000000, "explosion": 2000}]})
	some a in d.actions
	a.rule == "explosion"
	a.reason == "stage s.2 produced 4000000000 rows from 2000000 (2000x): check the join criteria"
}

test_balanced_stage_not_flagged if {
	d := decide({"skew": {"stageId": "s.1", "spread": 1.13, "topTaskShare": 0.56, "rows": 4831919, "tasks": 2}})
	count(d.actions) == 0
}

test_small_skewed_stage_not_flagged if {
	d := decide({"skew": {"stageId": "s.1", "spread": 2, "topTaskShare": 1, "rows": 5000, "tasks": 2}})
	count(d.actions) == 0
}

test_explosion_warned if {
	d := decide({"stages": [{"stageId": "s.2", "rows": 2000000, "outputRows": 4000000000, "explosion": 2000}]})
	"explosion" in rules(d)
}

test_memory_warned if {
	d := decide({"peakTotalMemoryBytes": 20000000000})
	"memory" in rules(d)
}

test_report_only if {
	d := watchdog.decision with input as {"query": query({"cpuSeconds": 4000}), "cluster": "a"}
		with data.switchyard.settings.watchdog as wd({"report_only": true})
	d.reportOnly
	"runaway-cpu" in rules(d)
}
