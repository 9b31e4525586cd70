package store

import (
	"context"
	"errors"
	"time"
)

// ErrHeld is returned by Acquire while another holder has the lease.
var ErrHeld = errors.New("lease held by another holder")

// ErrLost is returned by Renew and Release when the lease expired or
// another holder has it now.
var ErrLost = errors.New("lease lost")

// Leases let exactly one replica of the fleet do a piece of work (a loop
// that calls coordinators, say) while every replica keeps serving requests.
// A lease is held for a time and renewed by its holder; when the holder
// stops renewing it expires and another replica takes it over.
//
// Every acquisition by a new holder gets a larger fencing token. Work done
// under a lease carries its token to what it changes, and what it changes
// refuses tokens older than the newest it has seen: a holder that paused
// past its lease (a stop-the-world pause, a partition) and wakes up cannot
// overwrite the work of the holder that replaced it.
type Leases interface {
	// Acquire takes the named lease for holder for ttl, or renews it if
	// holder has it already (same token). atLeast is the newest token the
	// protected resource has seen: the token returned is larger than it even
	// if the counter was lost (an emptied Redis). ErrHeld while another
	// holder has it.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration, atLeast int64) (Lease, error)
	// Renew extends a held lease by ttl from now, or returns ErrLost.
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release gives a held lease up at once (ErrLost if it was not held).
	Release(ctx context.Context, l Lease) error
}

// Lease is one holding of a named lease.
type Lease struct {
	Name   string
	Holder string
	// Token is the fencing token: larger for every new holding.
	Token int64
	// Expires is when the lease ends unless renewed, by the clock of the
	// replica that took or renewed it.
	Expires time.Time
}
