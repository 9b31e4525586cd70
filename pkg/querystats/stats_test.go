package querystats

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// testdata/ was recorded from Trino 476, a coordinator and 2 workers (the
// e2e harness's TrinoCluster), with join_distribution_type=PARTITIONED:
//
//   - join-skewed-*: user alice, source querystats-recorder, client tag
//     join-skewed:
//     SELECT count(*) FROM tpch.sf1.lineitem l JOIN (SELECT DISTINCT
//     IF(orderkey % 100 < 95, 1, orderkey % 100003) AS k FROM
//     tpch.sf1.orders) o ON IF(l.orderkey % 100 < 95, 1, l.orderkey %
//     100003) = o.k
//     (95% of lineitem's rows have key 1);
//   - join-balanced-*: the same with the key orderkey % 100003 on both
//     sides (client tag join-balanced);
//   - runaway-*: user mallory: SELECT count(*) FROM tpch.sf1.orders a
//     CROSS JOIN tpch.tiny.orders b WHERE cos(a.totalprice *
//     b.totalprice) > 2, read after 40 s, then killed;
//   - query-failed.json.gz: SELECT count(*) FROM tpch.sf1.orders WHERE
//     orderkey / (custkey - custkey) > 0 (DIVISION_BY_ZERO);
//   - queries-finished.json: GET /v1/query at the end, trimmed to those
//     queries, the warm-up join, the harness's first readiness probe
//     (failed with SERVER_STARTING_UP, no progress) and its last.
//
// *-running.json is GET /v1/query/{id} while RUNNING (the joins when their
// join stage had about half its rows), *-running-list.json GET
// /v1/query?state=RUNNING at the same moment, *-finished.json.gz the
// detail once FINISHED.
const (
	skewedID   = "20261204_234412_00063_gaqda"
	balancedID = "20261204_234428_00064_gaqda"
	runawayID  = "20261204_234445_00065_gaqda"
)

// The skewed join's join stage (1) stands out; the balanced one's stays
// under SkewedSpread; the table scans (2: lineitem, 3: orders) are
// balanced in both.
func TestJoinSkew(t *testing.T) {
	tests := []struct {
		doc, stage    string
		minSpread     float64 // the skew's spread is at least...
		maxSpread     float64 // ... and at most
		minShare      float64
		topTaskRows   int64
		rows, medRows int64
	}{
		{"join-skewed-running.json", skewedID + ".1", 1.98, 2, 0.99, 5237818, 5264863, 2632431},
		{"join-skewed-finished.json.gz", skewedID + ".1", 1.9, 2, 0.97, 5877743, 6055218, 3027609},
		{"join-balanced-running.json", balancedID + ".1", 1, 1.2, 0.5, 2724009, 4831919, 2415959},
		{"join-balanced-finished.json.gz", balancedID + ".1", 1, 1.01, 0.5, 3203399, 6401227, 3200613},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			s := FromDetail(detail(t, tt.doc))
			if !s.Detailed || len(s.Stages) != 4 {
				t.Fatalf("detailed %v, %d stages, want 4", s.Detailed, len(s.Stages))
			}
			k := s.Skew
			if k == nil {
				t.Fatal("no skew measured")
			}
			if k.StageID != tt.stage || k.Tasks != 2 || k.Nodes != 2 || k.Rows != tt.rows || k.MaxTaskRows != tt.topTaskRows || k.MedianTaskRows != tt.medRows {
				t.Fatalf("skew %+v, want stage %s with 2 tasks on 2 nodes, %d rows, the biggest task %d, median %d", k, tt.stage, tt.rows, tt.topTaskRows, tt.medRows)
			}
			if k.Spread < tt.minSpread || k.Spread > tt.maxSpread || k.TopTaskShare < tt.minShare || k.NodeSpread != k.Spread {
				t.Fatalf("skew %+v, want a spread in [%v, %v] (the same per node), a top share >= %v", k, tt.minSpread, tt.maxSpread, tt.minShare)
			}
			skewed := k.Spread >= SkewedSpread
			if want := tt.minSpread >= SkewedSpread; skewed != want {
				t.Fatalf("spread %.3f: skewed %v, want %v (threshold %v)", k.Spread, skewed, want, SkewedSpread)
			}
			for _, scan := range []string{".2", ".3"} {
				st := stageByID(t, s, s.QueryID+scan)
				// Splits balance a scan in the end; while it runs, one
				// worker can be ahead (1.23 in the balanced join).
				if !st.Leaf || st.Tasks != 2 || st.Spread >= SkewedSpread || (s.State == "FINISHED" && st.Spread > 1.001) {
					t.Errorf("scan stage %+v: want a leaf of 2 tasks, balanced once finished", st)
				}
			}
			join := stageByID(t, s, tt.stage)
			if join.Leaf || join.Spread != k.Spread || join.State == "" {
				t.Errorf("join stage %+v", join)
			}
			root := s.Stages[0]
			if root.StageID != s.QueryID+".0" || root.Tasks != 1 || (root.Rows == 0 && root.Spread != 0) || (root.Rows > 0 && root.Spread != 1) {
				t.Errorf("root stage %+v", root)
			}
		})
	}
}

func TestSkewedJoinStages(t *testing.T) {
	s := FromDetail(detail(t, "join-skewed-running.json"))
	want := []StageStats{
		{StageID: skewedID + ".0", State: "RUNNING", Tasks: 1, Nodes: 1, CPUSeconds: 0.00026404},
		{StageID: skewedID + ".1", State: "RUNNING", Tasks: 2, Nodes: 2, Rows: 5264863,
			MaxTaskRows: 5237818, MedianTaskRows: 2632431, MinTaskRows: 27045,
			Spread: 2 * 5237818.0 / 5264863, TopTaskShare: 5237818.0 / 5264863,
			NodeSpread: 2 * 5237818.0 / 5264863, TopNodeShare: 5237818.0 / 5264863, CPUSeconds: 0.02573 + 0.58927},
		{StageID: skewedID + ".2", State: "RUNNING", Leaf: true, Tasks: 2, Nodes: 2, Rows: 5461398,
			MaxTaskRows: 2781691, MedianTaskRows: 2730699, MinTaskRows: 2679707,
			Spread: 2 * 2781691.0 / 5461398, TopTaskShare: 2781691.0 / 5461398,
			NodeSpread: 2 * 2781691.0 / 5461398, TopNodeShare: 2781691.0 / 5461398,
			OutputRows: 2781691 + 2604158, Explosion: (2781691 + 2604158) / 5461398.0, CPUSeconds: 1.71 + 1.58},
		{StageID: skewedID + ".3", State: "PENDING", Leaf: true, Tasks: 2, Nodes: 2, Rows: 1500000,
			MaxTaskRows: 750000, MedianTaskRows: 750000, MinTaskRows: 750000,
			Spread: 1, TopTaskShare: 0.5, NodeSpread: 1, TopNodeShare: 0.5,
			OutputRows: 54003, Explosion: 54003 / 1500000.0, CPUSeconds: 0.81942 + 0.84608},
	}
	if len(s.Stages) != len(want) {
		t.Fatalf("%d stages, want %d", len(s.Stages), len(want))
	}
	for i, w := range want {
		got := s.Stages[i]
		floats := [][2]float64{{got.Spread, w.Spread}, {got.TopTaskShare, w.TopTaskShare}, {got.NodeSpread, w.NodeSpread},
			{got.TopNodeShare, w.TopNodeShare}, {got.Explosion, w.Explosion}, {got.CPUSeconds, w.CPUSeconds}}
		for _, f := range floats {
			if !near(f[0], f[1]) {
				t.Errorf("stage %d: got %+v\nwant %+v", i, got, w)
			}
		}
		got.Spread, got.TopTaskShare, got.NodeSpread, got.TopNodeShare, got.Explosion, got.CPUSeconds = 0, 0, 0, 0, 0, 0
		w.Spread, w.TopTaskShare, w.NodeSpread, w.TopNodeShare, w.Explosion, w.CPUSeconds = 0, 0, 0, 0, 0, 0
		if got != w {
			t.Errorf("stage %d: got %+v\nwant %+v", i, got, w)
		}
	}
}

// The runaway cross join: its CPU and elapsed time, from the list and
// from the detail.
func TestRunaway(t *testing.T) {
	list := summaries(t, "runaway-running-list.json")
	if len(list) != 1 {
		t.Fatalf("%d running queries, want 1", len(list))
	}
	sum := FromSummary(list[0])
	d := FromDetail(detail(t, "runaway-running.json"))
	for _, c := range []struct {
		name             string
		s                Stats
		elapsed, cpu     float64
		progress         float64
		inputRows        int64
		peakMemory       int64
		detailed, skewed bool
	}{
		{"list", sum, 40.66, 28.62, 47.05882352941177, 511036, 3773912, false, false},
		{"detail", d, 40.88, 29.93, 47.05882352941177, 511036, 3773912, true, true},
	} {
		s := c.s
		if s.QueryID != runawayID || s.State != "RUNNING" || s.User != "mallory" || s.Source != "querystats-recorder" ||
			!near(s.ElapsedSeconds, c.elapsed) || !near(s.CPUSeconds, c.cpu) || s.ExecutionSeconds > s.ElapsedSeconds ||
			!s.ProgressKnown || !near(s.ProgressPercent, c.progress) || s.InputRows != c.inputRows || s.PeakMemoryBytes != c.peakMemory ||
			s.Detailed != c.detailed || (s.Skew != nil) != c.skewed || s.OutputRows != 0 || s.Explosion != 0 {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
	// The cross join's stage (1) burns the CPU; its two tasks have the
	// same rows (the build side is replicated, the probe split evenly).
	join := stageByID(t, d, runawayID+".1")
	if join.CPUSeconds < 29 || join.Spread != 1 || d.Skew.StageID != join.StageID || d.Skew.Spread >= SkewedSpread {
		t.Fatalf("cross join stage %+v, skew %+v", join, d.Skew)
	}
}

// Every field of FromSummary, on the skewed join's list entry.
func TestFromSummaryFields(t *testing.T) {
	qs := summaries(t, "join-skewed-running-list.json")
	if len(qs) != 1 {
		t.Fatalf("%d queries, want 1", len(qs))
	}
	got := FromSummary(qs[0])
	want := Stats{
		QueryID: skewedID, State: "RUNNING", User: "alice", Source: "querystats-recorder",
		Query: "SELECT count(*) FROM tpch.sf1.lineitem l JOIN (SELECT DISTINCT IF(orderkey % 100 < 95, 1, orderkey % 100003) AS k " +
			"FROM tpch.sf1.orders) o ON IF(l.orderkey % 100 < 95, 1, l.orderkey % 100003) = o.k",
		QueryType: "SELECT", ResourceGroup: []string{"global"}, ClientTags: []string{"join-skewed"},
		ElapsedSeconds: 13.38, QueuedSeconds: 0.01151, ExecutionSeconds: 13.22, CPUSeconds: 4.88,
		PeakMemoryBytes: 21988636, PeakTotalMemoryBytes: 21988636, CurrentMemoryBytes: 7099143,
		PhysicalInputBytes: 0, RawInputBytes: 0, InputRows: 5446781,
		ProgressPercent: 39.130434782608695, ProgressKnown: true,
		BlockedReasons: []string{},
	}
	for _, f := range [][2]float64{{got.ElapsedSeconds, want.ElapsedSeconds}, {got.QueuedSeconds, want.QueuedSeconds},
		{got.ExecutionSeconds, want.ExecutionSeconds}, {got.CPUSeconds, want.CPUSeconds}, {got.ProgressPercent, want.ProgressPercent}} {
		if !near(f[0], f[1]) {
			t.Errorf("got %v, want %v", f[0], f[1])
		}
	}
	got.ElapsedSeconds, got.QueuedSeconds, got.ExecutionSeconds, got.CPUSeconds, got.ProgressPercent = want.ElapsedSeconds, want.QueuedSeconds, want.ExecutionSeconds, want.CPUSeconds, want.ProgressPercent
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// The detail of the same moment adds the output, the stages and the
	// skew; the rest are the same kind of figures, a few ms later.
	d := FromDetail(detail(t, "join-skewed-running.json"))
	if !d.Detailed || d.QueryID != skewedID || d.InputRows != 6961398 || d.CPUSeconds < got.CPUSeconds || d.OutputRows != 0 || d.Explosion != 0 ||
		d.CurrentMemoryBytes != 9036188 || !d.ProgressKnown || len(d.ClientTags) != 1 {
		t.Fatalf("detail %+v", d)
	}
}

// Finished and failed queries, from the list and the detail.
func TestFinishedAndFailed(t *testing.T) {
	byID := map[string]Stats{}
	for _, q := range summaries(t, "queries-finished.json") {
		byID[q.QueryID] = FromSummary(q)
	}
	if len(byID) != 7 {
		t.Fatalf("%d queries, want 7", len(byID))
	}
	for id, want := range map[string]string{skewedID: "FINISHED", balancedID: "FINISHED", runawayID: "FAILED", "20261204_234526_00066_gaqda": "FAILED"} {
		s := byID[id]
		if s.State != want || !s.ProgressKnown || s.Detailed || s.Stages != nil || s.Skew != nil {
			t.Errorf("%s: %+v, want %s", id, s, want)
		}
	}
	if s := byID[runawayID]; s.ProgressPercent != 100 || s.CPUSeconds < 29.93 {
		t.Errorf("killed runaway %+v", s)
	}

	fin := FromDetail(detail(t, "join-skewed-finished.json.gz"))
	if fin.State != "FINISHED" || fin.OutputRows != 1 || fin.OutputBytes <= 0 || fin.InputRows != 7501215 ||
		!near(fin.Explosion, 1/7501215.0) || fin.ProgressPercent != 100 {
		t.Errorf("finished %+v", fin)
	}
	for _, st := range fin.Stages {
		if st.State != "FINISHED" {
			t.Errorf("stage %+v of a finished query", st)
		}
	}

	failed := FromDetail(detail(t, "query-failed.json.gz"))
	if failed.State != "FAILED" || failed.User != "alice" || !failed.Detailed || len(failed.Stages) != 2 ||
		failed.Stages[1].State != "FAILED" || failed.CPUSeconds <= 0 || failed.Skew != nil {
		t.Errorf("failed %+v", failed)
	}
}

// Progress is unknown before a query is scheduled (Trino omits it), and a
// value JSON cannot hold is not a progress.
func TestUnknownProgress(t *testing.T) {
	var early *coordinator.QuerySummary
	for _, q := range summaries(t, "queries-finished.json") {
		if q.ErrorCode != nil && q.ErrorCode.Name == "SERVER_STARTING_UP" {
			early = &q
		}
	}
	if early == nil {
		t.Fatal("no query that failed before it was scheduled")
	}
	s := FromSummary(*early)
	if s.ProgressKnown || s.ProgressPercent != 0 || s.State != "FAILED" || s.QueryType != "" || s.ResourceGroup == nil || len(s.ResourceGroup) != 0 {
		t.Fatalf("early failure %+v", s)
	}
	for _, tt := range []struct {
		doc   string
		known bool
		want  float64
	}{
		{`[{"queryStats":{}}]`, false, 0},
		{`[{"queryStats":{"progressPercentage":null}}]`, false, 0},
		{`[{"queryStats":{"progressPercentage":"NaN"}}]`, false, 0},
		{`[{"queryStats":{"progressPercentage":"Infinity"}}]`, false, 0},
		{`[{"queryStats":{"progressPercentage":0}}]`, true, 0},
		{`[{"queryStats":{"progressPercentage":12.5}}]`, true, 12.5},
		{`[{"queryStats":{"progressPercentage":100.0000001}}]`, true, 100},
	} {
		qs, err := coordinator.ParseQueries([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		s := FromSummary(qs[0])
		if s.ProgressKnown != tt.known || s.ProgressPercent != tt.want {
			t.Errorf("%s: progress %v known %v, want %v known %v", tt.doc, s.ProgressPercent, s.ProgressKnown, tt.want, tt.known)
		}
	}
}

// Spread and its companions on hand-made stages.
func TestStageSpread(t *testing.T) {
	task := func(node string, rows int64) coordinator.Task {
		return coordinator.Task{Status: coordinator.TaskStatus{NodeID: node}, Stats: coordinator.TaskStats{ProcessedInputPositions: rows}}
	}
	tests := []struct {
		name                         string
		tasks                        []coordinator.Task
		spread, share, nodeSpread    float64
		rows, maxRows, median, minRw int64
		nodes                        int
	}{
		{"no tasks", nil, 0, 0, 0, 0, 0, 0, 0, 0},
		{"no rows yet", []coordinator.Task{task("a", 0), task("b", 0)}, 0, 0, 0, 0, 0, 0, 0, 2},
		{"one task", []coordinator.Task{task("a", 500)}, 1, 1, 1, 500, 500, 500, 500, 1},
		{"balanced", []coordinator.Task{task("a", 500), task("b", 500)}, 1, 0.5, 1, 1000, 500, 500, 500, 2},
		{"95% on one", []coordinator.Task{task("a", 950), task("b", 50)}, 1.9, 0.95, 1.9, 1000, 950, 500, 50, 2},
		{"all on one", []coordinator.Task{task("a", 0), task("b", 1000)}, 2, 1, 2, 1000, 1000, 500, 0, 2},
		// Four tasks, two per node: the hot task is on node a, which
		// carries 5/8 of the rows.
		{"two per node", []coordinator.Task{task("a", 400), task("a", 100), task("b", 150), task("b", 150)},
			2, 0.5, 1.25, 800, 400, 150, 100, 2},
		// Both tasks on one node: per task it is skewed, per node not.
		{"one node", []coordinator.Task{task("a", 900), task("a", 100)}, 1.8, 0.9, 1, 1000, 900, 500, 100, 1},
		{"odd count", []coordinator.Task{task("a", 10), task("b", 30), task("c", 20)}, 1.5, 0.5, 1.5, 60, 30, 20, 10, 3},
		{"negative is none", []coordinator.Task{task("a", -5), task("b", 10)}, 2, 1, 2, 10, 10, 5, 0, 2},
		{"saturating", []coordinator.Task{task("a", math.MaxInt64), task("b", math.MaxInt64)}, 1, 0.5, 1, math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stage(&coordinator.Stage{StageID: "q.1", Tasks: tt.tasks})
			if !near(st.Spread, tt.spread) || !near(st.TopTaskShare, tt.share) || !near(st.NodeSpread, tt.nodeSpread) ||
				st.Rows != tt.rows || st.MaxTaskRows != tt.maxRows || st.MedianTaskRows != tt.median || st.MinTaskRows != tt.minRw ||
				st.Nodes != tt.nodes || st.Tasks != len(tt.tasks) {
				t.Fatalf("got %+v\nwant spread %v share %v node spread %v rows %d max %d median %d min %d nodes %d",
					st, tt.spread, tt.share, tt.nodeSpread, tt.rows, tt.maxRows, tt.median, tt.minRw, tt.nodes)
			}
		})
	}
}

// Which stages skew is measured on: at least MinTasks tasks and MinRows
// rows.
func TestSkewOptions(t *testing.T) {
	d := detail(t, "join-skewed-running.json")
	tests := []struct {
		name  string
		o     Options
		stage string // "" for none
	}{
		{"defaults", Options{}, skewedID + ".1"},
		{"more rows than any stage", Options{MinRows: 10_000_000}, ""},
		{"only the big stages", Options{MinRows: 5_300_000}, ""},
		{"only the big stages, leaves too", Options{MinRows: 5_300_000, IncludeLeaf: true}, skewedID + ".2"},
		{"more tasks than any stage", Options{MinTasks: 3}, ""},
		{"one task is raised to two", Options{MinTasks: 1, MinRows: 1}, skewedID + ".1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.o.FromDetail(d).Skew
			switch {
			case tt.stage == "" && k != nil:
				t.Fatalf("skew %+v, want none", k)
			case tt.stage != "" && (k == nil || k.StageID != tt.stage):
				t.Fatalf("skew %+v, want stage %s", k, tt.stage)
			}
		})
	}

	// While running, a scan can be further from even than the join above
	// it: one worker is ahead. Leaves are measured only when asked for.
	bal := detail(t, "join-balanced-running.json")
	if k := (Options{IncludeLeaf: true}).FromDetail(bal).Skew; k == nil || k.StageID != balancedID+".2" || k.Spread < 1.2 || k.Spread >= SkewedSpread {
		t.Fatalf("balanced join with leaves: skew %+v, want the lineitem scan (.2) at about 1.23", k)
	}

	// A small skewed stage is not measured; a tie goes to the bigger one.
	small := &coordinator.Stage{StageID: "q.0", Tasks: []coordinator.Task{
		{Stats: coordinator.TaskStats{ProcessedInputPositions: 99_000}}, {Stats: coordinator.TaskStats{ProcessedInputPositions: 0}}},
		SubStages: []coordinator.Stage{
			{StageID: "q.1", Tasks: []coordinator.Task{{Stats: coordinator.TaskStats{ProcessedInputPositions: 100_000}}, {Stats: coordinator.TaskStats{ProcessedInputPositions: 100_000}}}},
			{StageID: "q.2", Tasks: []coordinator.Task{{Stats: coordinator.TaskStats{ProcessedInputPositions: 300_000}}, {Stats: coordinator.TaskStats{ProcessedInputPositions: 300_000}}}},
		}}
	if k := FromDetail(&coordinator.QueryDetail{OutputStage: small}).Skew; k != nil {
		t.Fatalf("skew %+v, want none (q.0 is too small, q.1 and q.2 are leaves)", k)
	}
	s := Options{IncludeLeaf: true}.FromDetail(&coordinator.QueryDetail{OutputStage: small})
	if s.Skew == nil || s.Skew.StageID != "q.2" || s.Skew.Spread != 1 {
		t.Fatalf("skew %+v, want q.2 (q.0 is too small, q.1 ties with fewer rows)", s.Skew)
	}
	if ids := []string{s.Stages[0].StageID, s.Stages[1].StageID, s.Stages[2].StageID}; !slices.Equal(ids, []string{"q.0", "q.1", "q.2"}) {
		t.Fatalf("stage order %v", ids)
	}
}

// The policy's interface: the JSON names, lists never null, stages and
// skew only with the detail.
func TestJSON(t *testing.T) {
	keys := func(v any) []string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k, v := range m {
			if v == nil {
				t.Errorf("%s is null in %s", k, b)
			}
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	summary := []string{"blockedReasons", "clientTags", "cpuSeconds", "currentMemoryBytes", "detailed", "elapsedSeconds", "executionSeconds",
		"explosion", "fullyBlocked", "inputRows", "outputBytes", "outputRows", "peakMemoryBytes", "peakTotalMemoryBytes",
		"physicalInputBytes", "progressKnown", "progressPercent", "query", "queryId", "queryType", "queuedSeconds", "rawInputBytes",
		"resourceGroup", "source", "spilledBytes", "state", "user"}
	if got := keys(FromSummary(coordinator.QuerySummary{})); !slices.Equal(got, summary) {
		t.Errorf("summary keys %v\nwant %v", got, summary)
	}
	if got := keys(FromDetail(nil)); !slices.Equal(got, summary) {
		t.Errorf("nil detail keys %v\nwant %v", got, summary)
	}
	d := FromDetail(detail(t, "join-skewed-running.json"))
	withDetail := slices.Sorted(slices.Values(append(slices.Clone(summary), "skew", "stages")))
	if got := keys(d); !slices.Equal(got, withDetail) {
		t.Errorf("detail keys %v\nwant %v", got, withDetail)
	}
	stage := []string{"cpuSeconds", "explosion", "leaf", "maxTaskRows", "medianTaskRows", "minTaskRows", "nodeSpread", "nodes",
		"outputRows", "rows", "spread", "stageId", "state", "tasks", "topNodeShare", "topTaskShare"}
	if got := keys(d.Stages[1]); !slices.Equal(got, stage) {
		t.Errorf("stage keys %v\nwant %v", got, stage)
	}
	skew := []string{"maxTaskRows", "medianTaskRows", "nodeSpread", "nodes", "rows", "spread", "stageId", "tasks", "topTaskShare"}
	if got := keys(d.Skew); !slices.Equal(got, skew) {
		t.Errorf("skew keys %v\nwant %v", got, skew)
	}
}

// FullyBlocked and its reasons, and the figures FromDetail adds.
func TestBlockedAndOutput(t *testing.T) {
	qs, err := coordinator.ParseQueries([]byte(`[{"queryId":"q","state":"RUNNING","queryStats":{"fullyBlocked":true,
		"blockedReasons":["WAITING_FOR_MEMORY"],"spilledDataSize":"1.50kB","physicalInputDataSize":"2MB","rawInputDataSize":"3MB",
		"rawInputPositions":40,"peakTotalMemoryReservation":"1GB"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	s := FromSummary(qs[0])
	if !s.FullyBlocked || !slices.Equal(s.BlockedReasons, []string{"WAITING_FOR_MEMORY"}) || s.SpilledBytes != 1536 ||
		s.PhysicalInputBytes != 2<<20 || s.RawInputBytes != 3<<20 || s.InputRows != 40 || s.PeakTotalMemoryBytes != 1<<30 {
		t.Fatalf("%+v", s)
	}
	d, err := coordinator.ParseQueryDetail([]byte(`{"queryId":"q","queryStats":{"rawInputPositions":40,"outputPositions":100,"outputDataSize":"1kB"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ds := FromDetail(d)
	if ds.OutputRows != 100 || ds.OutputBytes != 1024 || ds.Explosion != 2.5 || !ds.Detailed || ds.Stages == nil || len(ds.Stages) != 0 || ds.Skew != nil {
		t.Fatalf("%+v", ds)
	}
}
