package querystats

import (
	"math"
	"slices"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// StageStats is one stage of a query's plan (input.query.stages[_]).
//
// Rows are processed input rows: what the stage's tasks took in, from
// table splits in a leaf stage, from the exchanges of its child stages
// otherwise. A stage's tasks run in parallel and the stage ends with its
// last task, so uneven rows make the biggest task the bottleneck. In a
// hash-partitioned join or aggregation, rows reach the tasks by the hash
// of their key: a key that holds most rows sends them to one task, and
// it is that stage (not the table scans below it, whose splits are spread
// evenly) whose Spread rises.
type StageStats struct {
	// StageID is Trino's stage ID, "<queryId>.<n>" (n = 0 is the root).
	StageID string `json:"stageId"`
	// State is Trino's stage state (PLANNED, SCHEDULING, RUNNING,
	// PENDING, FINISHED, ...).
	State string `json:"state"`
	// Leaf is true for a stage without child stages: it reads table
	// splits (a scan), rather than other stages' output.
	Leaf bool `json:"leaf"`
	// Tasks is the number of its tasks, Nodes the number of distinct
	// nodes they run on (a node may run several tasks of one stage, e.g.
	// with fault-tolerant execution).
	Tasks int `json:"tasks"`
	Nodes int `json:"nodes"`
	// Rows is the processed input rows of all its tasks.
	Rows int64 `json:"rows"`
	// MaxTaskRows, MedianTaskRows and MinTaskRows are the processed input
	// rows of its biggest, middle (the mean of the two middle ones for an
	// even count) and smallest task.
	MaxTaskRows    int64 `json:"maxTaskRows"`
	MedianTaskRows int64 `json:"medianTaskRows"`
	MinTaskRows    int64 `json:"minTaskRows"`
	// Spread is MaxTaskRows divided by the mean rows per task: how many
	// times longer than a perfectly balanced stage this one takes, if
	// time follows rows. 1 is balanced; it is at most Tasks (one task has
	// every row); 0 when the stage has no rows yet.
	Spread float64 `json:"spread"`
	// TopTaskShare is the share of Rows in its biggest task, 0 to 1
	// (1/Tasks when balanced; 0 without rows).
	TopTaskShare float64 `json:"topTaskShare"`
	// NodeSpread and TopNodeShare are Spread and TopTaskShare over nodes,
	// each node's tasks' rows added up: whether one machine carries the
	// stage, whatever the number of tasks on it.
	NodeSpread   float64 `json:"nodeSpread"`
	TopNodeShare float64 `json:"topNodeShare"`
	// OutputRows is what its tasks produced; Explosion is OutputRows /
	// Rows (0 without rows): above 1 the stage multiplies rows (a join
	// fanning out), below 1 it reduces them (a filter, an aggregation).
	OutputRows int64   `json:"outputRows"`
	Explosion  float64 `json:"explosion"`
	// CPUSeconds is the CPU time of its tasks.
	CPUSeconds float64 `json:"cpuSeconds"`
}

// Skew is the most skewed stage of a query (input.query.skew): the
// measured stage (see Options) with the highest Spread (on a tie, the one
// with more rows). Its fields are that stage's.
type Skew struct {
	StageID        string  `json:"stageId"`
	Spread         float64 `json:"spread"`
	TopTaskShare   float64 `json:"topTaskShare"`
	NodeSpread     float64 `json:"nodeSpread"`
	Rows           int64   `json:"rows"`
	MaxTaskRows    int64   `json:"maxTaskRows"`
	MedianTaskRows int64   `json:"medianTaskRows"`
	Tasks          int     `json:"tasks"`
	Nodes          int     `json:"nodes"`
}

// SkewedSpread is the Spread from which a stage counts as skewed: the
// threshold recommended to watchdog policies (input.query.skew.spread >=
// 1.5). Its biggest task then has at least half again the mean's rows, so
// the stage takes half again as long as it would balanced; on 2 tasks,
// one task has 75% of the rows. On Trino 476 with 2 workers (testdata/),
// a partitioned join on a key holding 95% of the rows measured 1.99 while
// running (1.94 finished); the same join on an evenly spread key 1.13
// while running (workers progress at different speeds) and 1.001 finished.
const SkewedSpread = 1.5

// Defaults of Options.
const (
	DefaultMinTasks = 2
	DefaultMinRows  = 100_000
)

// Options choose the stages skew is measured on. Small stages are left
// out so that they never look skewed: with a few hundred rows, one task
// holding most of them costs nothing. Leaf stages (table scans) are left
// out unless IncludeLeaf: the coordinator hands their splits to whichever
// task has room, so their rows even out, and an imbalance while they run
// is one worker being ahead, not skewed data (the balanced join's
// lineitem scan measured 1.23 while running, more than its join stage's
// 1.13, and 1.0003 finished). Data skew shows in the stages that receive
// rows partitioned by a key: joins and aggregations.
type Options struct {
	// MinTasks: only stages with at least this many tasks (default and
	// least 2: a single task cannot be skewed).
	MinTasks int
	// MinRows: only stages whose tasks processed at least this many rows
	// in all (default 100000).
	MinRows int64
	// IncludeLeaf measures leaf stages too (uneven splits, e.g. one large
	// file that cannot be split).
	IncludeLeaf bool
}

func (o Options) withDefaults() Options {
	o.MinTasks = max(o.MinTasks, DefaultMinTasks)
	if o.MinRows <= 0 {
		o.MinRows = DefaultMinRows
	}
	return o
}

// skew picks the measured stage with the highest spread.
func (o Options) skew(stages []StageStats) *Skew {
	o = o.withDefaults()
	var best *StageStats
	for i := range stages {
		s := &stages[i]
		if s.Tasks < o.MinTasks || s.Rows < o.MinRows || (s.Leaf && !o.IncludeLeaf) {
			continue
		}
		if best == nil || s.Spread > best.Spread || (s.Spread == best.Spread && s.Rows > best.Rows) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return &Skew{StageID: best.StageID, Spread: best.Spread, TopTaskShare: best.TopTaskShare, NodeSpread: best.NodeSpread,
		Rows: best.Rows, MaxTaskRows: best.MaxTaskRows, MedianTaskRows: best.MedianTaskRows, Tasks: best.Tasks, Nodes: best.Nodes}
}

// stages flattens the stage tree, root first, depth-first.
func stages(root *coordinator.Stage) []StageStats {
	out := []StageStats{}
	var walk func(s *coordinator.Stage)
	walk = func(s *coordinator.Stage) {
		out = append(out, stage(s))
		for i := range s.SubStages {
			walk(&s.SubStages[i])
		}
	}
	if root != nil {
		walk(root)
	}
	return out
}

// stage computes one stage's figures from its tasks.
func stage(s *coordinator.Stage) StageStats {
	st := StageStats{StageID: s.StageID, State: s.State, Leaf: len(s.SubStages) == 0, Tasks: len(s.Tasks)}
	if len(s.Tasks) == 0 {
		return st
	}
	rows := make([]int64, len(s.Tasks))
	byNode := make(map[string]float64, 2)
	var cpu float64
	for i, t := range s.Tasks {
		r := max(t.Stats.ProcessedInputPositions, 0)
		rows[i] = r
		st.Rows = addSat(st.Rows, r)
		st.OutputRows = addSat(st.OutputRows, max(t.Stats.OutputPositions, 0))
		byNode[t.Status.NodeID] += float64(r)
		cpu += max(t.Stats.CPU.Std().Seconds(), 0)
	}
	st.Nodes = len(byNode)
	st.CPUSeconds = cpu
	st.Explosion = ratio(st.OutputRows, st.Rows)
	slices.Sort(rows)
	n := len(rows)
	st.MinTaskRows, st.MaxTaskRows = rows[0], rows[n-1]
	st.MedianTaskRows = rows[n/2]
	if n%2 == 0 {
		a, b := rows[n/2-1], rows[n/2]
		st.MedianTaskRows = a + (b-a)/2
	}
	var total float64
	for _, r := range rows {
		total += float64(r)
	}
	st.Spread, st.TopTaskShare = spread(float64(st.MaxTaskRows), total, n)
	var topNode float64
	for _, r := range byNode {
		topNode = max(topNode, r)
	}
	st.NodeSpread, st.TopNodeShare = spread(topNode, total, len(byNode))
	return st
}

// spread is top / (total / n) clamped to [1, n], and top / total clamped
// to (0, 1]; both 0 when total is 0. The sums are floats, so no count
// overflows them.
func spread(top, total float64, n int) (float64, float64) {
	if total <= 0 || n == 0 || math.IsInf(total, 0) || math.IsNaN(total) {
		return 0, 0
	}
	share := min(top/total, 1)
	return min(max(share*float64(n), 1), float64(n)), share
}

// addSat adds non-negative counts, saturating at the largest int64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
