// Package admin is the control plane's HTTP surface on the admin port:
// liveness, readiness, Prometheus metrics and (later) the fleet API.
package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// ReadyFunc reports whether the control plane can serve; a non-nil error
// says why not.
type ReadyFunc func(r *http.Request) error

// Options shape the admin handler.
type Options struct {
	Gatherer prometheus.Gatherer
	Ready    ReadyFunc
	Pprof    bool // serve /debug/pprof/
	// Fleet serves the /api/ endpoints (nil: none).
	Fleet  Fleet
	Tokens []config.Token
	// ShutdownWorkers is the default of a drain's shutdownWorkers.
	ShutdownWorkers bool
	// Policy serves /api/v1/policy and /api/v1/decisions (nil: none).
	Policy Policy
	// Queries serves /api/v1/queries, the fleet's queries (nil: none).
	Queries func(ctx context.Context, f fleetqueries.Filter) fleetqueries.View
	// Governance serves /api/v1/governance and /api/v1/history (nil:
	// none).
	Governance Governance
	// Doctor serves /api/v1/doctor, the checks of the fleet's Trino
	// clusters (nil: none).
	Doctor func(ctx context.Context, cluster string) (doctor.Report, error)
	// Protection serves /api/v1/protection (nil: none).
	Protection *Protection
	// AutoRecovery serves /api/v1/autorecovery (nil: none).
	AutoRecovery AutoRecoveryView
	// Console serves the web console and what it reads (nil: none).
	Console *Console
	// Envoys serves /api/v1/envoys, the Envoys this replica configures
	// (nil: none).
	Envoys EnvoysFunc
	// Events is the ingest endpoint of Trino's event listener, served at
	// events.Path; it authenticates its senders itself (nil: none).
	Events http.Handler
	// Audit keeps every change made through the API, served at
	// /api/v1/audit (nil: changes are only logged). Replica names this
	// control plane in its entries.
	Audit   store.Audit
	Replica string
	Logger  *slog.Logger
}

// Handler returns the admin HTTP handler.
func Handler(o Options) http.Handler {
	gatherer, ready := o.Gatherer, o.Ready
	mux := http.NewServeMux()
	if o.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r); err != nil {
			WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	if o.Fleet != nil {
		log := o.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		registerAPI(mux, &api{fleet: o.Fleet, auth: newAuthenticator(o.Tokens), log: log, shutdownWorkers: o.ShutdownWorkers, policy: o.Policy, queries: o.Queries, governance: o.Governance,
			auditLog: o.Audit, replica: o.Replica, doctor: o.Doctor, protection: o.Protection,
			autoRecovery: o.AutoRecovery, console: o.Console, envoys: o.Envoys})
	}
	if o.Events != nil {
		mux.Handle(events.Path, o.Events)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// WriteJSON writes v as JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes {"error": message} with the status.
func WriteError(w http.ResponseWriter, status int, message string) {
	WriteJSON(w, status, map[string]string{"error": message})
}
