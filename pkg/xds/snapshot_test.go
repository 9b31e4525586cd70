package xds

import (
	"context"
	"log/slog"
	"reflect"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// The snapshot the cache gets answers GetResources with the same resources
// as go-control-plane's, every type, without building a map per call.
func TestSharedSnapshotResources(t *testing.T) {
	ctx := context.Background()
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{})
	if _, err := s.Update(ctx, translateFile(t, "testdata/in/basic.yaml")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	shared, ok := got.(*sharedSnapshot)
	if !ok {
		t.Fatalf("the cache holds a %T", got)
	}
	for _, typ := range append(snapshotTypes, "type.googleapis.com/envoy.service.runtime.v3.Runtime") {
		want := shared.Snapshot.GetResources(typ)
		m := shared.GetResources(typ)
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: %d resources, want %d", typ, len(m), len(want))
		}
		if len(m) > 0 && reflect.ValueOf(m).UnsafePointer() != reflect.ValueOf(shared.GetResources(typ)).UnsafePointer() {
			t.Errorf("%s: a new map on each call", typ)
		}
	}
	if n := len(shared.GetResources(resource.ClusterType)); n == 0 {
		t.Error("no clusters")
	}
}

// A snapshot of the same content as the current one is not published
// again: same version, no push, the publication time kept.
func TestSameContentIsNotPublishedAgain(t *testing.T) {
	ctx := context.Background()
	pushes := 0
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{Pushes: func() { pushes++ }})
	v1, err := s.Update(ctx, translateFile(t, "testdata/in/basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, at := s.Envoys()
	v2, err := s.Update(ctx, translateFile(t, "testdata/in/basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, again := s.Envoys(); v2 != v1 || pushes != 1 || !again.Equal(at) {
		t.Fatalf("versions %s then %s, %d pushes, published %v then %v", v1, v2, pushes, at, again)
	}
}
