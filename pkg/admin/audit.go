package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// auditKeep is how many entries the audit log keeps.
const auditKeep = 10000

// guard wraps the API's handlers with the role each needs. Every
// operator and admin endpoint changes something, and is audited.
type guard struct{ a *api }

func (g guard) viewer(h http.HandlerFunc) http.HandlerFunc { return g.a.auth.require(RoleViewer, h) }

func (g guard) operator(h http.HandlerFunc) http.HandlerFunc {
	return g.a.audit(g.a.auth.require(RoleOperator, h))
}

func (g guard) admin(h http.HandlerFunc) http.HandlerFunc {
	return g.a.audit(g.a.auth.require(RoleAdmin, h))
}

// audit records an attempted change, with who tried it and how it ended
// (a token whose role is too weak included), in the log and in the shared
// audit log (when the API has one). A caller without a valid token is
// only logged: it cannot flood the shared log. Neither holds the token or
// the request's body.
func (a *api) audit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role, who := a.auth.identify(r)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		e := store.AuditEntry{Time: time.Now().UTC(), Who: who, Role: role.String(), Method: r.Method, Path: r.URL.Path,
			Status: sw.status, Remote: r.RemoteAddr, Replica: a.replica}
		if r.ContentLength > 0 {
			e.Detail = "body " + strconv.FormatInt(r.ContentLength, 10) + " bytes"
		}
		if role == RoleNone {
			a.log.Warn("admin API change refused: no valid token", "method", e.Method, "path", e.Path, "status", e.Status, "remote", e.Remote)
			return
		}
		a.log.Info("admin API change", "method", e.Method, "path", e.Path, "token", who, "role", e.Role, "status", e.Status, "remote", e.Remote)
		if a.auditLog == nil {
			return
		}
		// The change is made: recording it must not depend on the caller
		// staying connected.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := a.auditLog.Record(ctx, e, auditKeep); err != nil {
			a.log.Error("audit log: the change was made but not recorded", "method", e.Method, "path", e.Path, "token", who, "err", err)
		}
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// registerAuditAPI serves the audit log to operators and admins:
//
//	GET /api/v1/audit?limit=N   the newest changes first (default 100)
func registerAuditAPI(mux *http.ServeMux, a *api) {
	mux.HandleFunc("GET /api/v1/audit", a.auth.require(RoleOperator, func(w http.ResponseWriter, r *http.Request) {
		n := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 || x > auditKeep {
				WriteError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(auditKeep))
				return
			}
			n = x
		}
		es, err := a.auditLog.Recent(r.Context(), n)
		if err != nil {
			WriteError(w, http.StatusServiceUnavailable, "reading the audit log: "+err.Error())
			return
		}
		if es == nil {
			es = []store.AuditEntry{}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"entries": es})
	}))
}
