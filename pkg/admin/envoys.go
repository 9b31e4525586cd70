package admin

import (
	"net/http"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// EnvoysFunc lists the Envoys connected to this replica's xDS server, the
// current configuration's version and when it was published.
type EnvoysFunc func() (list []xds.Envoy, version string, pushed time.Time)

// envoysView is GET /api/v1/envoys: which Envoys this replica configures
// and whether each runs its current configuration (from their ACKs). After
// a change (a drain, a weight), every Envoy current means every Envoy runs
// it; a cheap read, unlike /metrics, so it can be polled.
type envoysView struct {
	Version   string      `json:"version"`
	Published *time.Time  `json:"published,omitempty"`
	Current   int         `json:"current"`
	Behind    int         `json:"behind"`
	Envoys    []envoyView `json:"envoys"`
}

// envoyView is one Envoy: the version it applied by resource type, and
// when it is behind, for how long the current configuration has waited.
type envoyView struct {
	Node          string            `json:"node"`
	Applied       map[string]string `json:"applied"`
	Current       bool              `json:"current"`
	BehindSeconds float64           `json:"behindSeconds,omitempty"`
}

func registerEnvoysAPI(mux *http.ServeMux, envoys EnvoysFunc, g guard) {
	mux.HandleFunc("GET /api/v1/envoys", g.viewer(func(w http.ResponseWriter, _ *http.Request) {
		list, version, pushed := envoys()
		v := envoysView{Version: version, Envoys: make([]envoyView, 0, len(list))}
		if !pushed.IsZero() {
			v.Published = &pushed
		}
		for _, e := range list {
			if e.Current {
				v.Current++
			} else {
				v.Behind++
			}
			v.Envoys = append(v.Envoys, envoyView{Node: e.Node, Applied: e.Applied, Current: e.Current, BehindSeconds: e.Behind.Seconds()})
		}
		WriteJSON(w, http.StatusOK, v)
	}))
}
