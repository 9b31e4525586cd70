package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// Governance is what the governance API reads and changes (the replica's
// workload.Governor).
type Governance interface {
	Usage(ctx context.Context) (*workload.Usage, error)
	Queue(ctx context.Context) ([]workload.QueueItem, error)
	AdjustUsage(ctx context.Context, a store.UsageAdjustment) error
	Finish(ctx context.Context, id string, e store.EntryError) (store.QueueEntry, error)
	Recent(ctx context.Context, n int) ([]store.QueryRecord, error)
}

// registerGovernanceAPI adds the workload governance endpoints:
//
//	GET    /api/v1/governance          usage per class, user and cluster; quota balances
//	GET    /api/v1/governance/queue    the queue, with positions
//	DELETE /api/v1/governance/queue/{id}  cancel a queued query (operator)
//	POST   /api/v1/governance/usage    adjust or reset a class's or user's usage (admin)
//	GET    /api/v1/history?limit=N     the recent queries (from Trino's event listener)
func registerGovernanceAPI(mux *http.ServeMux, g Governance, p *Protection, gd guard) {
	read, operate, write := gd.viewer, gd.operator, gd.admin
	mux.HandleFunc("GET /api/v1/governance", read(func(w http.ResponseWriter, r *http.Request) {
		u, err := g.Usage(r.Context())
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, u)
	}))
	mux.HandleFunc("GET /api/v1/governance/queue", read(func(w http.ResponseWriter, r *http.Request) {
		q, err := g.Queue(r.Context())
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, q)
	}))
	mux.HandleFunc("DELETE /api/v1/governance/queue/{id}", operate(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !trino.ValidQueryID(id) {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a queued query's ID", id))
			return
		}
		was, err := g.Finish(r.Context(), id, store.EntryError{Name: trino.ErrUserCanceled.Name, Message: "an administrator canceled the query while it waited in the gateway's queue"})
		switch {
		case errors.Is(err, store.ErrNotFound):
			WriteError(w, http.StatusNotFound, "no queued query "+id)
		case err != nil:
			storeFailed(w, err)
		case was.State == store.EntrySubmitted || was.State == store.EntryFinished:
			WriteError(w, http.StatusConflict, fmt.Sprintf("query %s left the queue already (%s): cancel it on its cluster", id, was.State))
		default:
			WriteJSON(w, http.StatusOK, map[string]string{"canceled": id, "was": string(was.State)})
		}
	}))
	mux.HandleFunc("POST /api/v1/governance/usage", write(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Class string  `json:"class"`
			User  string  `json:"user"`
			Kind  string  `json:"kind"`
			Delta float64 `json:"delta"`
			Reset bool    `json:"reset"`
		}
		if !decode(w, r, &body) {
			return
		}
		switch {
		case body.Class == "":
			WriteError(w, http.StatusBadRequest, "class is required")
			return
		case body.Kind != "" && body.Kind != "rate" && body.Kind != "cpu" && body.Kind != "bytes":
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("kind %q must be rate, cpu or bytes (or empty with reset: all three)", body.Kind))
			return
		case !body.Reset && (body.Kind == "" || body.Delta == 0):
			WriteError(w, http.StatusBadRequest, "give reset: true, or a kind and a non-zero delta")
			return
		}
		a := store.UsageAdjustment{Class: body.Class, User: body.User, Kind: body.Kind, Delta: body.Delta, Reset: body.Reset}
		if err := g.AdjustUsage(r.Context(), a); err != nil {
			storeFailed(w, err)
			return
		}
		u, err := g.Usage(r.Context())
		if err != nil {
			storeFailed(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, u)
	}))
	mux.HandleFunc("GET /api/v1/history", read(func(w http.ResponseWriter, r *http.Request) {
		n := 100
		if l := r.URL.Query().Get("limit"); l != "" {
			v, err := strconv.Atoi(l)
			if err != nil || v < 1 || v > 10000 {
				WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a number from 1 to 10000", l))
				return
			}
			n = v
		}
		rs, err := g.Recent(r.Context(), n)
		if err != nil {
			storeFailed(w, err)
			return
		}
		out := make([]historyRecord, len(rs))
		for i, rec := range rs {
			out[i].QueryRecord = rec
			if p != nil && i < maxHistoryActions {
				// The protection actions taken on it (deny, kill, ...); a
				// failed read leaves them out.
				out[i].Protection, _ = p.Store.QueryActions(r.Context(), rec.QueryID)
			}
		}
		WriteJSON(w, http.StatusOK, out)
	}))
}

// maxHistoryActions bounds the history records whose protection actions
// are read (one store call each).
const maxHistoryActions = 500

// historyRecord is a query of the history with the protection actions
// taken on it.
type historyRecord struct {
	store.QueryRecord
	Protection []store.Action `json:"protection,omitempty"`
}

func storeFailed(w http.ResponseWriter, err error) {
	WriteError(w, http.StatusServiceUnavailable, "the shared store failed: "+err.Error())
}
