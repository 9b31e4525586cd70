package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Fleet is the part of the lifecycle manager the API drives.
type Fleet interface {
	Clusters() []lifecycle.ClusterView
	Cluster(name string) (lifecycle.ClusterView, error)
	Groups() []map[string]any
	Fleet() *fleet.Fleet
	AddCluster(ctx context.Context, c config.Cluster) error
	UpdateCluster(ctx context.Context, name string, c config.Cluster) error
	RemoveCluster(ctx context.Context, name string, force bool) error
	SetState(ctx context.Context, name string, st fleet.State) error
	SetWeight(ctx context.Context, name string, w int) error
	StartDrain(ctx context.Context, name string, timeout time.Duration, shutdownWorkers bool) error
	BlueGreen(ctx context.Context, group string, to []string, healthTimeout, drainTimeout time.Duration) (*lifecycle.BlueGreenReport, error)
}

type api struct {
	fleet Fleet
	auth  *authenticator
	log   *slog.Logger
	// shutdownWorkers is the configured default for drains.
	shutdownWorkers bool
	policy          Policy
	queries         func(ctx context.Context, f fleetqueries.Filter) fleetqueries.View
	governance      Governance
	// auditLog keeps the changes (nil: they are only logged); replica
	// names this control plane in its entries.
	auditLog store.Audit
	replica  string
	// doctor checks the fleet's clusters (nil: no /api/v1/doctor).
	doctor func(ctx context.Context, cluster string) (doctor.Report, error)
	// protection serves the query protection endpoints (nil: none).
	protection *Protection
	// autoRecovery serves /api/v1/autorecovery (nil: none).
	autoRecovery AutoRecoveryView
	console      *Console
	// envoys serves /api/v1/envoys (nil: none).
	envoys EnvoysFunc
}

// registerAPI adds /api/v1/... and the Trino Gateway compatible endpoints.
func registerAPI(mux *http.ServeMux, a *api) {
	g := guard{a}
	read, operate, write := g.viewer, g.operator, g.admin
	mux.HandleFunc("GET /api/v1/clusters", read(a.listClusters))
	mux.HandleFunc("GET /api/v1/clusters/{name}", read(a.getCluster))
	mux.HandleFunc("POST /api/v1/clusters", write(a.addCluster))
	mux.HandleFunc("PUT /api/v1/clusters/{name}", write(a.updateCluster))
	mux.HandleFunc("DELETE /api/v1/clusters/{name}", write(a.removeCluster))
	mux.HandleFunc("POST /api/v1/clusters/{name}/activate", operate(a.setState(fleet.Active)))
	mux.HandleFunc("POST /api/v1/clusters/{name}/deactivate", operate(a.setState(fleet.Inactive)))
	mux.HandleFunc("POST /api/v1/clusters/{name}/drain", operate(a.drain))
	mux.HandleFunc("PUT /api/v1/clusters/{name}/weight", operate(a.weight))
	mux.HandleFunc("POST /api/v1/bluegreen", operate(a.blueGreen))
	mux.HandleFunc("GET /api/v1/groups", read(a.groups))
	if a.queries != nil {
		mux.HandleFunc("GET /api/v1/queries", read(a.listQueries))
	}
	registerTrinoGatewayCompat(mux, a, g)
	if a.policy != nil {
		registerPolicyAPI(mux, a.policy, g)
	}
	if a.governance != nil {
		registerGovernanceAPI(mux, a.governance, a.protection, g)
	}
	if a.protection != nil {
		registerProtectionAPI(mux, a.protection, g)
	}
	if a.auditLog != nil {
		registerAuditAPI(mux, a)
	}
	if a.autoRecovery != nil {
		registerAutoRecoveryAPI(mux, a.autoRecovery, g)
	}
	registerConsole(mux, a, a.console, g)
	if a.envoys != nil {
		registerEnvoysAPI(mux, a.envoys, g)
	}
	if a.doctor != nil {
		// Operator: it runs queries on every cluster and probes every
		// worker, not a read of state the control plane holds.
		mux.HandleFunc("GET /api/v1/doctor", operate(a.runDoctor))
	}
}

// fail writes an operation error with its status, or 500.
func fail(w http.ResponseWriter, err error) {
	var le *lifecycle.Error
	if errors.As(err, &le) {
		WriteError(w, le.Status, le.Message)
		return
	}
	WriteError(w, http.StatusInternalServerError, err.Error())
}

// maxBody bounds a request body of the API (a policy upload has its own).
const maxBody = 1 << 20

// decode reads a JSON body strictly (unknown fields are errors), of at
// most maxBody bytes.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeLimit(w, r, v, maxBody)
}

// decodeLimit is decode with its own size limit: a larger body is refused
// with 413, a malformed one with 400.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
			return false
		}
		WriteError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func (a *api) listClusters(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, a.fleet.Clusters())
}

func (a *api) getCluster(w http.ResponseWriter, r *http.Request) {
	v, err := a.fleet.Cluster(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

func (a *api) addCluster(w http.ResponseWriter, r *http.Request) {
	var c config.Cluster
	if !decode(w, r, &c) {
		return
	}
	if err := a.fleet.AddCluster(r.Context(), c); err != nil {
		fail(w, err)
		return
	}
	a.respondCluster(w, http.StatusCreated, c.Name)
}

func (a *api) updateCluster(w http.ResponseWriter, r *http.Request) {
	var c config.Cluster
	if !decode(w, r, &c) {
		return
	}
	if err := a.fleet.UpdateCluster(r.Context(), r.PathValue("name"), c); err != nil {
		fail(w, err)
		return
	}
	a.respondCluster(w, http.StatusOK, r.PathValue("name"))
}

func (a *api) respondCluster(w http.ResponseWriter, status int, name string) {
	v, err := a.fleet.Cluster(name)
	if err != nil {
		fail(w, err)
		return
	}
	WriteJSON(w, status, v)
}

func (a *api) removeCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.fleet.RemoveCluster(r.Context(), name, r.URL.Query().Get("force") == "true"); err != nil {
		fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"removed": name})
}

func (a *api) setState(st fleet.State) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := a.fleet.SetState(r.Context(), name, st); err != nil {
			fail(w, err)
			return
		}
		a.respondCluster(w, http.StatusOK, name)
	}
}

// duration is a JSON duration string ("90s", "1h").
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %s", s)
	}
	*d = duration(v)
	return nil
}

func (a *api) drain(w http.ResponseWriter, r *http.Request) {
	body := struct {
		Timeout         duration `json:"timeout"`
		ShutdownWorkers *bool    `json:"shutdownWorkers"`
	}{}
	if r.ContentLength != 0 && !decode(w, r, &body) {
		return
	}
	shutdown := a.shutdownWorkers
	if body.ShutdownWorkers != nil {
		shutdown = *body.ShutdownWorkers
	}
	name := r.PathValue("name")
	if err := a.fleet.StartDrain(r.Context(), name, time.Duration(body.Timeout), shutdown); err != nil {
		fail(w, err)
		return
	}
	a.respondCluster(w, http.StatusAccepted, name)
}

func (a *api) weight(w http.ResponseWriter, r *http.Request) {
	body := struct {
		Weight *int `json:"weight"`
	}{}
	if !decode(w, r, &body) {
		return
	}
	if body.Weight == nil {
		WriteError(w, http.StatusBadRequest, "weight: required")
		return
	}
	name := r.PathValue("name")
	if err := a.fleet.SetWeight(r.Context(), name, *body.Weight); err != nil {
		fail(w, err)
		return
	}
	a.respondCluster(w, http.StatusOK, name)
}

func (a *api) blueGreen(w http.ResponseWriter, r *http.Request) {
	body := struct {
		Group         string   `json:"group"`
		To            []string `json:"to"`
		HealthTimeout duration `json:"healthTimeout"`
		DrainTimeout  duration `json:"drainTimeout"`
	}{}
	if !decode(w, r, &body) {
		return
	}
	if body.Group == "" {
		WriteError(w, http.StatusBadRequest, "group: required")
		return
	}
	rep, err := a.fleet.BlueGreen(r.Context(), body.Group, body.To, time.Duration(body.HealthTimeout), time.Duration(body.DrainTimeout))
	if err != nil {
		fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, rep)
}

func (a *api) groups(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, a.fleet.Groups())
}

// trimName accepts Trino Gateway's plain-text (or JSON string) name bodies.
func trimName(b []byte) string {
	s := strings.TrimSpace(string(b))
	var js string
	if json.Unmarshal([]byte(s), &js) == nil {
		return js
	}
	return s
}

// listQueries is the fleet's recent and running queries, newest first,
// each with its cluster: GET /api/v1/queries?state=RUNNING&user=alice&limit=100.
func (a *api) listQueries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := fleetqueries.Filter{State: q.Get("state"), User: q.Get("user")}
	for _, c := range f.State {
		if c < 'A' || c > 'Z' {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("state %q is not a Trino query state (QUEUED, RUNNING, FINISHED, FAILED, ...)", f.State))
			return
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a number from 1 to 10000", l))
			return
		}
		f.Limit = n
	}
	WriteJSON(w, http.StatusOK, a.queries(r.Context(), f))
}
