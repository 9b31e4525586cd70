package admin

import (
	"net/http"
)

// AutoRecoveryView is what GET /api/v1/autorecovery shows (built by the
// server: the settings, the clusters held out, the recent actions).
type AutoRecoveryView func(r *http.Request) (any, error)

// registerAutoRecoveryAPI serves auto-recovery's state to viewers:
//
//	GET /api/v1/autorecovery   enabled, settings, clusters held out, recent actions
func registerAutoRecoveryAPI(mux *http.ServeMux, view AutoRecoveryView, gd guard) {
	mux.HandleFunc("GET /api/v1/autorecovery", gd.viewer(func(w http.ResponseWriter, r *http.Request) {
		v, err := view(r)
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}))
}
