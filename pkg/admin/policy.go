package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/policy"
)

// Policy is what the admin API needs of the policy engine.
type Policy interface {
	// Current is the policy in use (nil: no policy configured).
	Current() *policy.Compiled
	// Publish validates a bundle and makes it the fleet's policy.
	Publish(ctx context.Context, b *policy.Bundle) (*policy.Compiled, error)
	DryRun(ctx context.Context, r admission.DryRunRequest) *admission.DryRunResult
	Decisions(n int) []policy.LogEntry
}

// PolicyInfo describes the policy in use.
type PolicyInfo struct {
	Version string            `json:"version"`
	Loaded  time.Time         `json:"loaded"`
	Files   []string          `json:"files"`
	Tests   policy.TestReport `json:"tests"`
}

func policyInfo(c *policy.Compiled) PolicyInfo {
	return PolicyInfo{Version: c.Version, Loaded: c.Loaded, Files: c.Files, Tests: c.Tests}
}

func registerPolicyAPI(mux *http.ServeMux, p Policy, g guard) {
	read, write := g.viewer, g.admin
	mux.HandleFunc("GET /api/v1/policy", read(func(w http.ResponseWriter, _ *http.Request) {
		c := p.Current()
		if c == nil {
			WriteError(w, http.StatusNotFound, "no policy is configured (policy.dir); queries go to the group X-Trino-Routing-Group names, else the default group")
			return
		}
		WriteJSON(w, http.StatusOK, policyInfo(c))
	}))
	mux.HandleFunc("PUT /api/v1/policy", write(func(w http.ResponseWriter, r *http.Request) {
		body := struct {
			Files map[string]string `json:"files"`
		}{}
		// Room for the bundle JSON-escaped; its own size is checked below.
		if !decodeLimit(w, r, &body, 2*policy.MaxBundleBytes+maxBody) {
			return
		}
		if len(body.Files) == 0 {
			WriteError(w, http.StatusBadRequest, "files: at least one policy file is required")
			return
		}
		b := &policy.Bundle{Files: map[string][]byte{}}
		size := 0
		for n, c := range body.Files {
			b.Files[n] = []byte(c)
			size += len(c)
		}
		if size > policy.MaxBundleBytes {
			WriteError(w, http.StatusRequestEntityTooLarge, "the policy exceeds "+strconv.Itoa(policy.MaxBundleBytes)+" bytes")
			return
		}
		c, err := p.Publish(r.Context(), b)
		var ce *policy.CompileError
		if errors.As(err, &ce) {
			WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": err.Error(), "problems": ce.Problems})
			return
		}
		if err != nil {
			WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, policyInfo(c))
	}))
	mux.HandleFunc("POST /api/v1/policy/eval", read(func(w http.ResponseWriter, r *http.Request) {
		var req admission.DryRunRequest
		if !decode(w, r, &req) {
			return
		}
		WriteJSON(w, http.StatusOK, p.DryRun(r.Context(), req))
	}))
	mux.HandleFunc("GET /api/v1/decisions", read(func(w http.ResponseWriter, r *http.Request) {
		n := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 {
				WriteError(w, http.StatusBadRequest, "limit: a positive number, got "+strconv.Quote(s))
				return
			}
			n = v
		}
		WriteJSON(w, http.StatusOK, p.Decisions(n))
	}))
}
