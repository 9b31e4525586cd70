package querystats

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// FuzzFromDetail: whatever GET /v1/query/{id} answer ParseQueryDetail
// accepts, FromDetail does not panic, every spread is 0 or within [1,
// its count], every share within [0, 1], the row figures are ordered, the
// skew is a measured stage, and the stats encode as JSON (no NaN or
// infinity reaches the policy).
func FuzzFromDetail(f *testing.F) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, readDoc(f, "join-skewed-running.json")); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	for _, doc := range []string{
		`{}`,
		`{"queryStats":{"progressPercentage":"NaN","rawInputPositions":0,"outputPositions":9}}`,
		`{"outputStage":{"stageId":"q.0","tasks":[{"stats":{"processedInputPositions":1}}],"subStages":[{"stageId":"q.1","tasks":[` +
			`{"taskStatus":{"nodeId":"a"},"stats":{"processedInputPositions":950000,"outputPositions":5}},` +
			`{"taskStatus":{"nodeId":"b"},"stats":{"processedInputPositions":50000}}],"subStages":[{"stageId":"q.2","tasks":[]}]}]}}`,
		`{"outputStage":{"tasks":[{"stats":{"processedInputPositions":9223372036854775807}},{"stats":{"processedInputPositions":9223372036854775807}}],"subStages":[{}]}}`,
		`{"queryStats":{"progressPercentage":-3,"elapsedTime":"1.5d","totalCpuTime":"9999999999d"}}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := coordinator.ParseQueryDetail(b)
		if err != nil {
			return
		}
		s := FromDetail(d)
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("the stats do not encode: %v", err)
		}
		if !s.Detailed || s.ResourceGroup == nil || s.ClientTags == nil || s.BlockedReasons == nil {
			t.Fatalf("detailed %v, a null list in %+v", s.Detailed, s)
		}
		if s.ProgressPercent < 0 || s.ProgressPercent > 100 || (!s.ProgressKnown && s.ProgressPercent != 0) {
			t.Fatalf("progress %v (known %v)", s.ProgressPercent, s.ProgressKnown)
		}
		if !finite(s.Explosion) || s.Explosion < 0 {
			t.Fatalf("explosion %v", s.Explosion)
		}
		for _, st := range s.Stages {
			checkSpread(t, st.StageID, st.Spread, st.Tasks)
			checkSpread(t, st.StageID+" per node", st.NodeSpread, st.Nodes)
			for _, share := range []float64{st.TopTaskShare, st.TopNodeShare} {
				if !finite(share) || share < 0 || share > 1 {
					t.Fatalf("stage %s: share %v", st.StageID, share)
				}
			}
			if !(st.Rows >= st.MaxTaskRows && st.MaxTaskRows >= st.MedianTaskRows && st.MedianTaskRows >= st.MinTaskRows && st.MinTaskRows >= 0) {
				t.Fatalf("stage %s: rows out of order %+v", st.StageID, st)
			}
			if st.Nodes > st.Tasks || !finite(st.Explosion) || st.Explosion < 0 || !finite(st.CPUSeconds) || st.CPUSeconds < 0 {
				t.Fatalf("stage %+v", st)
			}
		}
		k := s.Skew
		if k != nil {
			checkSpread(t, "skew", k.Spread, k.Tasks)
			if k.Tasks < DefaultMinTasks || k.Rows < DefaultMinRows {
				t.Fatalf("skew on a stage too small %+v", k)
			}
		}
		for _, st := range s.Stages {
			if st.Leaf || st.Tasks < DefaultMinTasks || st.Rows < DefaultMinRows {
				continue
			}
			if k == nil || st.Spread > k.Spread {
				t.Fatalf("skew %+v, but stage %+v is measured and spreads more", k, st)
			}
		}
	})
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkSpread: 0 (nothing measured) or within [1, n].
func checkSpread(t *testing.T, what string, spread float64, n int) {
	t.Helper()
	if !finite(spread) || (spread != 0 && (spread < 1 || spread > float64(n))) {
		t.Fatalf("%s: spread %v with %d tasks or nodes", what, spread, n)
	}
}

// BenchmarkFromDetail: one recorded 4-stage document (the skewed join
// while running), already parsed; parse+compute adds what the watchdog
// pays per detail poll.
func BenchmarkFromDetail(b *testing.B) {
	doc := readDoc(b, "join-skewed-running.json")
	d, err := coordinator.ParseQueryDetail(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("compute", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s := FromDetail(d); s.Skew == nil {
				b.Fatal("no skew")
			}
		}
	})
	b.Run("parse+compute", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			d, err := coordinator.ParseQueryDetail(doc)
			if err != nil {
				b.Fatal(err)
			}
			FromDetail(d)
		}
	})
}

// BenchmarkFromSummary100: a poll's list of 100 running queries (the
// three recorded ones, repeated).
func BenchmarkFromSummary100(b *testing.B) {
	var recorded []coordinator.QuerySummary
	for _, name := range []string{"join-skewed-running-list.json", "join-balanced-running-list.json", "runaway-running-list.json"} {
		recorded = append(recorded, summaries(b, name)...)
	}
	qs := make([]coordinator.QuerySummary, 100)
	for i := range qs {
		qs[i] = recorded[i%len(recorded)]
	}
	out := make([]Stats, len(qs))
	b.ReportAllocs()
	for b.Loop() {
		for i, q := range qs {
			out[i] = FromSummary(q)
		}
	}
}
