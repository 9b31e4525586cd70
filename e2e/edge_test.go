package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestEdgeAbuse is the hold-out style abuse of the client listener with
// the edge settings in force (docs/configuration.md): hundreds of idle
// connections held open, garbage on sockets and oversized headers while
// real queries run through the gateway. Every query succeeds, every
// abusive request gets its answer, and Envoy keeps serving.
func TestEdgeAbuse(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	addr := strings.TrimPrefix(g.URL(0), "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 300 idle connections: opened, never written to.
	const idle = 300
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range idle {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}

	// Queries run while the abuse goes on.
	const queries = 6
	errs := make(chan error, queries)
	var wg sync.WaitGroup
	for i := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := harness.RunQuery(ctx, g.URL(0), "e2e", fmt.Sprintf("SELECT %d, count(*) FROM tpch.tiny.nation", i), nil)
			switch {
			case err != nil:
				errs <- fmt.Errorf("query %d: %w", i, err)
			case len(rows) != 1 || fmt.Sprint(rows[0]) != fmt.Sprintf("[%d 25]", i):
				errs <- fmt.Errorf("query %d: rows %v", i, rows)
			}
		}()
	}

	// Garbage on fresh sockets: Envoy answers 400 and closes.
	for i, junk := range []string{"\x00\x01\x02\xff\xfe garbage\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "POST /v1/statement HTTP/1.1\r\nContent-Length: -5\r\n\r\n", strings.Repeat("A", 70000) + "\r\n\r\n"} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(junk)); err != nil {
			t.Logf("garbage %d: write: %v (closed early)", i, err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if err == nil && !strings.HasPrefix(line, "HTTP/1.1 4") {
			t.Errorf("garbage %d: answered %q, want a 4xx or a closed connection", i, line)
		}
	}

	// An oversized header value: 431.
	req, err := http.NewRequestWithContext(ctx, "POST", g.URL(0)+"/v1/statement", strings.NewReader("SELECT 1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Trino-User", "e2e")
	req.Header.Set("X-Trino-Session", strings.Repeat("a=b,", 20000))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an 80 KB header: status %d, want 431", resp.StatusCode)
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The idle connections are still open (the idle timeout is minutes),
	// and the gateway still serves a new query.
	if _, err := harness.RunQuery(ctx, g.URL(0), "e2e", "SELECT 1", nil); err != nil {
		t.Errorf("after the abuse: %v", err)
	}
	open := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	if open != idle {
		t.Errorf("%d of %d idle connections still open; want all (cut only after the idle timeout)", open, idle)
	}
	t.Logf("%d idle connections held, %d queries succeeded alongside, garbage and an oversized header refused", open, queries)
}
