package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/querystats"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Protection is what the query protection API reads and changes.
type Protection struct {
	Store store.Protection
	// Watchdog evaluates the watchdog rules over one query's statistics,
	// without acting (the dry run).
	Watchdog func(ctx context.Context, cluster, group string, st querystats.Stats) (*policy.WatchdogDecision, error)
}

// WatchdogDryRun is the body of POST /api/v1/protection/watchdog/dry-run.
type WatchdogDryRun struct {
	Cluster string           `json:"cluster"`
	Group   string           `json:"group"`
	Query   querystats.Stats `json:"query"`
}

// registerProtectionAPI adds the query protection endpoints:
//
//	GET    /api/v1/protection/actions?limit=N       the recent actions (deny, route, caps, kill, throttle, quarantine, warn)
//	GET    /api/v1/protection/queries/{id}          the actions taken on one query
//	POST   /api/v1/protection/fingerprint           {"sql": ...}: its fingerprint and normalised text
//	GET    /api/v1/protection/fingerprints/{fp}     what happened before to queries of the fingerprint
//	DELETE /api/v1/protection/fingerprints/{fp}     forget them, and end a quarantine (operator)
//	GET    /api/v1/protection/throttles             the users the watchdog throttles
//	DELETE /api/v1/protection/throttles/{user}      end a throttle (operator)
//	POST   /api/v1/protection/watchdog/dry-run      the watchdog rules' decision about a query's statistics
func registerProtectionAPI(mux *http.ServeMux, p *Protection, gd guard) {
	read, operate := gd.viewer, gd.operator
	mux.HandleFunc("GET /api/v1/protection/actions", read(func(w http.ResponseWriter, r *http.Request) {
		n, ok := limitParam(w, r, 100)
		if !ok {
			return
		}
		as, err := p.Store.RecentActions(r.Context(), n)
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, nonNil(as))
	}))
	mux.HandleFunc("GET /api/v1/protection/queries/{id}", read(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !trino.ValidQueryID(id) {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a Trino query ID", clipText(id, 64)))
			return
		}
		as, err := p.Store.QueryActions(r.Context(), id)
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, nonNil(as))
	}))
	mux.HandleFunc("POST /api/v1/protection/fingerprint", read(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			SQL string `json:"sql"`
		}
		if !decode(w, r, &body) {
			return
		}
		if strings.TrimSpace(body.SQL) == "" {
			WriteError(w, http.StatusBadRequest, "sql: the statement is required")
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"fingerprint": sqlclass.Fingerprint(body.SQL), "normalised": sqlclass.Normalised(body.SQL, 4096)})
	}))
	mux.HandleFunc("GET /api/v1/protection/fingerprints/{fp}", read(func(w http.ResponseWriter, r *http.Request) {
		fp, ok := fingerprintParam(w, r)
		if !ok {
			return
		}
		ins, err := p.Store.Incidents(r.Context(), fp)
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"fingerprint": fp, "incidents": nonNil(ins)})
	}))
	mux.HandleFunc("DELETE /api/v1/protection/fingerprints/{fp}", operate(func(w http.ResponseWriter, r *http.Request) {
		fp, ok := fingerprintParam(w, r)
		if !ok {
			return
		}
		switch err := p.Store.ReleaseFingerprint(r.Context(), fp); {
		case errors.Is(err, store.ErrNotFound):
			WriteError(w, http.StatusNotFound, "nothing is remembered of fingerprint "+fp)
		case err != nil:
			storeFailed(w, err)
		default:
			WriteJSON(w, http.StatusOK, map[string]string{"released": fp})
		}
	}))
	mux.HandleFunc("GET /api/v1/protection/throttles", read(func(w http.ResponseWriter, r *http.Request) {
		ts, err := p.Store.Throttles(r.Context())
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, nonNil(ts))
	}))
	mux.HandleFunc("DELETE /api/v1/protection/throttles/{user}", operate(func(w http.ResponseWriter, r *http.Request) {
		user := r.PathValue("user")
		switch err := p.Store.RemoveThrottle(r.Context(), user); {
		case errors.Is(err, store.ErrNotFound):
			WriteError(w, http.StatusNotFound, "user "+clipText(user, 200)+" is not throttled")
		case err != nil:
			storeFailed(w, err)
		default:
			WriteJSON(w, http.StatusOK, map[string]string{"unthrottled": user})
		}
	}))
	mux.HandleFunc("POST /api/v1/protection/watchdog/dry-run", read(func(w http.ResponseWriter, r *http.Request) {
		var body WatchdogDryRun
		if !decode(w, r, &body) {
			return
		}
		if p.Watchdog == nil {
			WriteError(w, http.StatusNotFound, "the watchdog is not configured")
			return
		}
		d, err := p.Watchdog(r.Context(), body.Cluster, body.Group, body.Query)
		if err != nil {
			WriteError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, d)
	}))
}

func limitParam(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return def, true
	}
	v, err := strconv.Atoi(l)
	if err != nil || v < 1 || v > 10000 {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a number from 1 to 10000", clipText(l, 32)))
		return 0, false
	}
	return v, true
}

func fingerprintParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	fp := r.PathValue("fp")
	if len(fp) != sqlclass.FingerprintLen || strings.Trim(fp, "0123456789abcdef") != "" {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a query fingerprint (%d hex digits; POST /api/v1/protection/fingerprint computes one)", clipText(fp, 80), sqlclass.FingerprintLen))
		return "", false
	}
	return fp, true
}

// nonNil answers [] for an empty list.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
