package admin

import (
	"context"
	"net/http"
)

// Console is what the web console reads besides the API: its assets, the
// fleet's recent load and the alerts.
type Console struct {
	// Assets serves the console's pages under Path (for example
	// "/console/").
	Assets http.Handler
	Path   string
	// Load is the fleet's load over the last minutes (GET
	// /api/v1/fleet/load).
	Load func() any
	// Alerts are the firing alerts of the fleet's Alertmanager (GET
	// /api/v1/alerts; nil: none configured).
	Alerts func(ctx context.Context) (any, error)
}

// registerConsole serves the console, and to any valid token who it is:
//
//	GET /console/               the console's pages (no token: the page asks for one)
//	GET /api/v1/whoami          the token's name and role
//	GET /api/v1/fleet/load      running and queued queries per cluster, every few seconds, for the last minutes
//	GET /api/v1/alerts          the alerts Alertmanager holds (console.alertmanagerURL)
func registerConsole(mux *http.ServeMux, a *api, c *Console, gd guard) {
	mux.HandleFunc("GET /api/v1/whoami", gd.viewer(func(w http.ResponseWriter, r *http.Request) {
		role, name := a.auth.identify(r)
		WriteJSON(w, http.StatusOK, map[string]string{"name": name, "role": role.String()})
	}))
	if c == nil {
		c = &Console{}
	}
	if c.Assets != nil {
		mux.Handle("GET "+c.Path, c.Assets)
		mux.Handle("GET "+c.Path[:len(c.Path)-1], http.RedirectHandler(c.Path, http.StatusMovedPermanently))
	}
	if c.Load != nil {
		mux.HandleFunc("GET /api/v1/fleet/load", gd.viewer(func(w http.ResponseWriter, _ *http.Request) {
			WriteJSON(w, http.StatusOK, c.Load())
		}))
	}
	mux.HandleFunc("GET /api/v1/alerts", gd.viewer(func(w http.ResponseWriter, r *http.Request) {
		if c.Alerts == nil {
			WriteJSON(w, http.StatusOK, map[string]any{"configured": false, "alerts": []any{}})
			return
		}
		v, err := c.Alerts(r.Context())
		if err != nil {
			WriteError(w, http.StatusBadGateway, "Alertmanager: "+err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"configured": true, "alerts": v})
	}))
}
