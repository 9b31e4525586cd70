package watchdog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// BenchmarkTick100 is one watchdog poll of a coordinator running 100
// queries (the recorded runaway's summary, 100 times), 20 of them long
// enough for their detail to be read (the recorded runaway's detail, a
// multi-stage document), with the shipped rules (nothing fires): the
// control plane's CPU per poll per 100 running queries, the coordinator's
// answers already parsed by the fake but not the watchdog's own work.
func BenchmarkTick100(b *testing.B) {
	pol := shipped(b, nil)
	f, fc := recordedFleet(b, "runaway")
	var one []map[string]any
	if err := json.Unmarshal(fc.lists["http://a"], &one); err != nil || len(one) == 0 {
		b.Fatal(err)
	}
	var list []map[string]any
	detail := fc.details[one[0]["queryId"].(string)]
	for i := range 100 {
		q := map[string]any{}
		for k, v := range one[0] {
			q[k] = v
		}
		id := fmt.Sprintf("20261204_000000_%05d_bench", i)
		q["queryId"] = id
		stats := map[string]any{}
		for k, v := range one[0]["queryStats"].(map[string]any) {
			stats[k] = v
		}
		if i >= 20 {
			stats["elapsedTime"] = "500.00ms" // under detailAfter
		}
		q["queryStats"] = stats
		list = append(list, q)
		fc.details[id] = []byte(strings.Replace(string(detail), one[0]["queryId"].(string), id, -1))
	}
	fc.lists["http://a"], _ = json.Marshal(list)
	w := newWatchdog(f, fc, pol, store.NewMemory(), "r1", false)
	b.ReportAllocs()
	for b.Loop() {
		rep := w.Tick(context.Background())
		if rep.Queries != 100 || rep.Detailed != 20 || len(rep.Actions) != 0 || len(rep.Errors) != 0 {
			b.Fatalf("%+v", rep)
		}
	}
}
