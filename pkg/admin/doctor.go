package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/doctor"
)

// runDoctor answers GET /api/v1/doctor[?cluster=NAME]: the doctor's report
// of every cluster (or one). It reads the clusters as it runs, so it takes
// seconds (the event check waits for the probe query's event).
func (a *api) runDoctor(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "cluster" {
			WriteError(w, http.StatusBadRequest, "unknown parameter "+k+" (the doctor takes cluster=NAME)")
			return
		}
	}
	name := strings.TrimSpace(q.Get("cluster"))
	rep, err := a.doctor(r.Context(), name)
	switch {
	case errors.Is(err, doctor.ErrUnknownCluster):
		WriteError(w, http.StatusNotFound, err.Error())
	case err != nil:
		WriteError(w, http.StatusInternalServerError, err.Error())
	default:
		WriteJSON(w, http.StatusOK, rep)
	}
}
