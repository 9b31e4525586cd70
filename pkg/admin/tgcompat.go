package admin

import (
	"io"
	"net/http"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// tgBackend is Trino Gateway's ProxyBackendConfiguration.
type tgBackend struct {
	Name         string `json:"name"`
	ProxyTo      string `json:"proxyTo"`
	Active       bool   `json:"active"`
	RoutingGroup string `json:"routingGroup"`
	ExternalURL  string `json:"externalUrl"`
}

func toTGBackend(v lifecycle.ClusterView) tgBackend {
	b := tgBackend{Name: v.Name, Active: v.State == fleet.Active, RoutingGroup: v.Group}
	if len(v.Coordinators) > 0 {
		b.ProxyTo = v.Coordinators[0].URL
		b.ExternalURL = b.ProxyTo
	}
	return b
}

// fromTGBackend turns a Trino Gateway backend into a one-coordinator
// cluster definition.
func fromTGBackend(b tgBackend) config.Cluster {
	st := config.StateActive
	if !b.Active {
		st = config.StateInactive
	}
	return config.Cluster{Name: b.Name, Group: b.RoutingGroup, State: st,
		Coordinators: []config.Coordinator{{URL: b.ProxyTo}}}
}

// registerTrinoGatewayCompat serves the subset of Trino Gateway's backend
// API that operators' scripts use, mapped onto clusters. Requests need the
// same bearer tokens as the rest of the API.
func registerTrinoGatewayCompat(mux *http.ServeMux, a *api, g guard) {
	read, operate, write := g.viewer, g.operator, g.admin
	list := func(activeOnly bool) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			out := []tgBackend{}
			for _, v := range a.fleet.Clusters() {
				if !activeOnly || v.State == fleet.Active {
					out = append(out, toTGBackend(v))
				}
			}
			WriteJSON(w, http.StatusOK, out)
		}
	}
	mux.HandleFunc("GET /gateway/backend/all", read(list(false)))
	mux.HandleFunc("GET /gateway/backend/active", read(list(true)))
	mux.HandleFunc("GET /api/public/backends", read(list(false)))
	mux.HandleFunc("GET /api/public/backends/{name}", read(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.fleet.Cluster(r.PathValue("name"))
		if err != nil {
			fail(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, toTGBackend(v))
	}))
	mux.HandleFunc("GET /api/public/backends/{name}/state", read(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.fleet.Cluster(r.PathValue("name"))
		if err != nil {
			fail(w, err)
			return
		}
		b := toTGBackend(v)
		status := map[string]string{"healthy": "HEALTHY", "unhealthy": "UNHEALTHY", "starting": "PENDING"}[v.Health]
		if status == "" {
			status = "UNKNOWN"
		}
		// Trino Gateway's ClusterStats document.
		WriteJSON(w, http.StatusOK, map[string]any{
			"clusterId": v.Name, "runningQueryCount": v.Load.Running, "queuedQueryCount": v.Load.Queued,
			"numWorkerNodes": v.Load.ActiveWorkers, "trinoStatus": status, "proxyTo": b.ProxyTo,
			"externalUrl": b.ExternalURL, "routingGroup": v.Group, "userQueuedCount": map[string]int{},
			"switchyardState": v.State,
		})
	}))
	state := func(st fleet.State) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := a.fleet.SetState(r.Context(), r.PathValue("name"), st); err != nil {
				fail(w, err)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	mux.HandleFunc("POST /gateway/backend/activate/{name}", operate(state(fleet.Active)))
	mux.HandleFunc("POST /gateway/backend/deactivate/{name}", operate(state(fleet.Inactive)))
	mux.HandleFunc("POST /gateway/backend/modify/add", write(func(w http.ResponseWriter, r *http.Request) {
		var b tgBackend
		if !decode(w, r, &b) {
			return
		}
		if err := a.fleet.AddCluster(r.Context(), fromTGBackend(b)); err != nil {
			fail(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, b)
	}))
	mux.HandleFunc("POST /gateway/backend/modify/update", write(func(w http.ResponseWriter, r *http.Request) {
		var b tgBackend
		if !decode(w, r, &b) {
			return
		}
		c := fromTGBackend(b)
		if err := a.fleet.UpdateCluster(r.Context(), b.Name, c); err != nil {
			fail(w, err)
			return
		}
		st := fleet.Active
		if !b.Active {
			st = fleet.Inactive
		}
		if err := a.fleet.SetState(r.Context(), b.Name, st); err != nil {
			fail(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, b)
	}))
	// Trino Gateway deletes at once; so does this endpoint (forced removal).
	mux.HandleFunc("POST /gateway/backend/modify/delete", write(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		name := trimName(body)
		if name == "" {
			WriteError(w, http.StatusBadRequest, "the body must be the backend name")
			return
		}
		if err := a.fleet.RemoveCluster(r.Context(), name, true); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
}
