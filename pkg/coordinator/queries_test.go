package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testdata/queries*.json and query-*.json were captured from Trino 476: a
// cross join of tpch.sf100.lineitem submitted by bob (source captest),
// listed and read while running, then killed; query-killed.json is trimmed
// of the plan, operator summaries and most of the stack trace.
func TestQueries(t *testing.T) {
	f := newFake(t, answer(200, string(readTestdata(t, "queries-running.json"))))
	qs, err := New(Options{}).Queries(context.Background(), f.srv.URL, "RUNNING")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.only(); r.Path != "/v1/query" || r.RawQuery != "state=RUNNING" {
		t.Fatalf("asked %s?%s, want /v1/query?state=RUNNING", r.Path, r.RawQuery)
	}
	if len(qs) != 1 {
		t.Fatalf("%d queries, want 1", len(qs))
	}
	q := qs[0]
	st := q.Stats
	if q.QueryID != testQueryID || q.State != "RUNNING" || q.Session.User != "bob" || q.Session.Source != "captest" ||
		q.QueryType != "SELECT" || q.Query != "SELECT count(*) FROM tpch.sf100.lineitem a CROSS JOIN tpch.sf100.lineitem b" ||
		len(q.ResourceGroupID) != 1 || q.ResourceGroupID[0] != "global" || q.ErrorCode != nil {
		t.Fatalf("query %+v", q)
	}
	if st.Elapsed.Std() != 10230*time.Millisecond || st.Queued.Std() != 17790*time.Microsecond || st.CPU.Std() != 10700*time.Millisecond ||
		st.PeakUserMemory != 156864 || st.UserMemory != 156864 || st.RawInputPositions != 63000000 || st.RawInput != 544 ||
		float64(st.CumulativeUserMemory) != 658094146.8358451 || st.FullyBlocked ||
		st.ProgressPercentage == nil || *st.ProgressPercentage != 0 || st.OutputPositions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueriesFinished(t *testing.T) {
	qs, err := ParseQueries(readTestdata(t, "queries.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 22 {
		t.Fatalf("%d queries, want 22", len(qs))
	}
	byID := map[string]QuerySummary{}
	for _, q := range qs {
		byID[q.QueryID] = q
	}
	killed := byID[testQueryID]
	if killed.State != "FAILED" || killed.ErrorType != "USER_ERROR" || killed.ErrorCode == nil ||
		*killed.ErrorCode != (ErrorCode{38, "ADMINISTRATIVELY_KILLED", "USER_ERROR"}) ||
		killed.Stats.CPU.Std() != 12700*time.Millisecond || killed.Stats.PeakUserMemory != 166624 {
		t.Fatalf("killed query %+v", killed)
	}
	// Queries that failed before planning have no queryType or resource group.
	early := byID["20261201_203606_00004_ftfm3"]
	if early.ErrorCode == nil || early.ErrorCode.Name != "SERVER_STARTING_UP" || early.QueryType != "" || early.ResourceGroupID != nil {
		t.Fatalf("early failure %+v", early)
	}
	// Trino omits the progress of a query it never scheduled.
	if early.Stats.ProgressPercentage != nil {
		t.Fatalf("early failure's progress %v, want none", *early.Stats.ProgressPercentage)
	}
	if p := killed.Stats.ProgressPercentage; p == nil || *p != 100 {
		t.Fatalf("killed query's progress %v, want 100", p)
	}
}

func TestParseQueriesErrors(t *testing.T) {
	tests := []struct{ name, doc, err string }{
		{"object", `{"queryId":"x"}`, "cannot unmarshal object"},
		{"id type", `[{"queryId":5}]`, "cannot unmarshal number"},
		{"duration type", `[{"queryStats":{"elapsedTime":5}}]`, "duration must be a string"},
		{"size unit", `[{"queryStats":{"peakUserMemoryReservation":"5 apples"}}]`, "unknown unit"},
		{"negative positions", `[{"queryId":"q","queryStats":{"rawInputPositions":-1}}]`, "rawInputPositions: -1 is negative"},
		{"negative output", `[{"queryId":"q","queryStats":{"outputPositions":-1}}]`, "outputPositions: -1 is negative"},
		{"progress type", `[{"queryStats":{"progressPercentage":"half"}}]`, "want a number"},
		{"error code type", `[{"errorCode":"BAD"}]`, "cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQueries([]byte(tt.doc))
			wantErr(t, err, tt.err)
		})
	}
	qs, err := ParseQueries([]byte(`[{"queryId":"q","state":"RUNNING","novel":{"x":[1,2]},"queryStats":{"novelStat":"1.5 parsecs"}}]`))
	if err != nil || len(qs) != 1 || qs[0].QueryID != "q" {
		t.Fatalf("unknown fields not ignored: %+v, %v", qs, err)
	}
}

func TestQuery(t *testing.T) {
	f := newFake(t, answer(200, string(readTestdata(t, "query-running.json"))))
	d, err := New(Options{}).Query(context.Background(), f.srv.URL, testQueryID)
	if err != nil {
		t.Fatal(err)
	}
	if d.QueryID != testQueryID || d.State != "RUNNING" || d.Session.User != "bob" || d.FailureInfo != nil || d.OutputStage == nil {
		t.Fatalf("detail %+v", d)
	}
	// The stage tree: 0 <- 1 <- 2, one task each on node "capture".
	var ids []string
	var positions, output []int64
	for s := d.OutputStage; s != nil; {
		ids = append(ids, s.StageID)
		if len(s.Tasks) != 1 || s.Tasks[0].Status.NodeID != "capture" || s.Tasks[0].Status.State != "RUNNING" {
			t.Fatalf("stage %s tasks %+v", s.StageID, s.Tasks)
		}
		positions = append(positions, s.Tasks[0].Stats.ProcessedInputPositions)
		output = append(output, s.Tasks[0].Stats.OutputPositions)
		if len(s.SubStages) == 0 {
			break
		}
		s = &s.SubStages[0]
	}
	if len(ids) != 3 || ids[2] != testQueryID+".2" || positions[1] != 32000000 || positions[2] != 31000000 || output[1] != 0 || output[2] != 31000000 {
		t.Fatalf("stages %v, positions %v, output %v", ids, positions, output)
	}
	// The detail's QueryStats has the root stage's output (nothing yet:
	// the count comes at the end); the list's BasicQueryStats has none.
	if p := d.Stats.ProgressPercentage; d.Stats.OutputPositions != 0 || d.Stats.OutputDataSize != 0 || p == nil || *p != 0 {
		t.Fatalf("detail stats %+v", d.Stats)
	}

	killed, err := ParseQueryDetail(readTestdata(t, "query-killed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if killed.State != "FAILED" || killed.ErrorCode == nil || killed.ErrorCode.Name != "ADMINISTRATIVELY_KILLED" || killed.FailureInfo == nil ||
		killed.FailureInfo.Message != "Query killed. Message: Killed by switchyard: ran longer than 10m (rule long-running)" {
		t.Fatalf("killed detail %+v %+v", killed.QuerySummary, killed.FailureInfo)
	}
}

func TestQueryErrors(t *testing.T) {
	f := newFake(t, answer(410, "Error 410 Gone: HTTP 410 Gone"))
	_, err := New(Options{}).Query(context.Background(), f.srv.URL, "20200101_000000_00000_abcde")
	if !errors.Is(err, ErrQueryGone) {
		t.Fatalf("got %v, want ErrQueryGone", err)
	}
	wantErr(t, err, f.srv.URL, "GET /v1/query/20200101_000000_00000_abcde", "HTTP 410")

	for _, bad := range []string{"", "../../v1/info", "ABC", "q?x=1", "a/b"} {
		_, err := New(Options{}).Query(context.Background(), f.srv.URL, bad)
		wantErr(t, err, "is not a Trino query ID")
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want only the first (bad IDs are refused before sending)", n)
	}

	for _, doc := range []string{`{"outputStage":{"tasks":[{"stats":{"processedInputPositions":-5}}]}}`, `{"outputStage":{"subStages":{}}}`,
		`{"outputStage":{"subStages":[{"tasks":[{"stats":{"outputPositions":-1}}]}]}}`, `{"queryStats":{"outputPositions":-2}}`} {
		if _, err := ParseQueryDetail([]byte(doc)); err == nil {
			t.Errorf("%s accepted", doc)
		}
	}
}

// The stage tree's depth is bounded.
func TestQueryDetailDepth(t *testing.T) {
	doc := ""
	for range maxStageDepth + 2 {
		doc += `{"subStages":[`
	}
	for range maxStageDepth + 2 {
		doc += `]}`
	}
	_, err := ParseQueryDetail([]byte(`{"outputStage":` + doc + `}`))
	wantErr(t, err, "deeper than")
}

func checkStats(t *testing.T, s QueryStats) {
	t.Helper()
	if s.Elapsed < 0 || s.Queued < 0 || s.Execution < 0 || s.CPU < 0 || s.UserMemory < 0 || s.PeakUserMemory < 0 ||
		s.PeakTotalMemory < 0 || s.PhysicalInput < 0 || s.RawInput < 0 || s.Spilled < 0 || s.RawInputPositions < 0 ||
		s.OutputPositions < 0 || s.OutputDataSize < 0 {
		t.Fatalf("negative statistic in %+v", s)
	}
}

// FuzzParseQueries: a /v1/query answer either fails or decodes to entries
// whose statistics are non-negative and which re-encode stably.
func FuzzParseQueries(f *testing.F) {
	f.Add(readTestdata(f, "queries.json"))
	f.Add(readTestdata(f, "queries-running.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		qs, err := ParseQueries(b)
		if err != nil {
			return
		}
		for _, q := range qs {
			checkStats(t, q.Stats)
		}
		roundTrip(t, qs, ParseQueries)
	})
}

// FuzzParseQueryDetail: the same for GET /v1/query/{id}, down the stage
// tree.
func FuzzParseQueryDetail(f *testing.F) {
	f.Add(readTestdata(f, "query-running.json"))
	f.Add(readTestdata(f, "query-killed.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseQueryDetail(b)
		if err != nil {
			return
		}
		checkStats(t, d.Stats)
		var walk func(s *Stage)
		walk = func(s *Stage) {
			for _, task := range s.Tasks {
				if task.Stats.ProcessedInputPositions < 0 || task.Stats.ProcessedInputDataSize < 0 || task.Stats.OutputPositions < 0 || task.Stats.CPU < 0 {
					t.Fatalf("negative task statistic in %+v", task)
				}
			}
			for i := range s.SubStages {
				walk(&s.SubStages[i])
			}
		}
		if d.OutputStage != nil {
			walk(d.OutputStage)
		}
		roundTrip(t, d, ParseQueryDetail)
	})
}
