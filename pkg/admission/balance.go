package admission

import (
	"context"
	"errors"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// balance picks the cluster within the routing group (the group's
// strategy among its healthy, active clusters, within what the policy
// allows), or lets Envoy pick by weight. It always decides.
type balance struct{ p *Pipeline }

func (balance) Name() string { return "balance" }

func (st balance) Admit(_ context.Context, s *Submission) (Outcome, bool) {
	if s.Transaction {
		// Only the transaction's coordinator knows it, whatever its
		// cluster's state.
		c, _ := st.p.o.Router.Fleet().Cluster(s.Route.Cluster)
		target := c.Name
		if s.Coordinator != "" {
			target = fleet.Key(c.Name, s.Coordinator)
		}
		s.Decision = routing.Decision{Group: c.Group, Cluster: c.Name}
		s.Entry.Group, s.Entry.Cluster = c.Group, target
		o := routeTo(target)
		o.Headers = upstreamHeaders(s.Headers)
		return o, true
	}
	d, err := st.p.o.Router.Route(s.Route)
	if err != nil {
		o := routingError(err)
		return o, true
	}
	s.Decision = d
	target := d.Cluster
	if d.Weighted {
		target = fleet.WeightedTarget(d.Group)
	}
	s.Entry.Group, s.Entry.Cluster = d.Group, target
	if !s.Dry {
		st.p.o.Metrics.Routed.WithLabelValues(d.Group, orWeighted(d.Cluster)).Inc()
	}
	o := routeTo(target)
	o.Headers = upstreamHeaders(s.Headers)
	o.AddedPrepare = st.p.addedPrepare(s)
	return o, true
}

func routingError(err error) Outcome {
	var re *routing.Error
	if errors.As(err, &re) {
		return reject(re.Code, re.Message, "")
	}
	return reject(trino.ErrGatewayInternal, err.Error(), "")
}

func orWeighted(c string) string {
	if c == "" {
		return "(by weight)"
	}
	return c
}

// upstreamHeaders are the headers the policy and the external routing
// service asked for, without those the gateway or the protocol own.
func upstreamHeaders(hs map[string]string) []Header {
	var out []Header
	for k, v := range hs {
		if allowedPolicyHeader(k) {
			out = append(out, Header{Name: strings.ToLower(k), Value: v})
		}
	}
	return out
}

// allowedPolicyHeader keeps policy from touching headers the gateway or
// the protocol own.
func allowedPolicyHeader(k string) bool {
	k = strings.ToLower(k)
	switch {
	case k == "" || strings.HasPrefix(k, ":"), k == "host", k == "content-length", k == "transfer-encoding",
		k == "connection", k == "x-trino-user", k == "x-trino-transaction-id",
		strings.HasPrefix(k, "x-switchyard"), strings.HasPrefix(k, "x-forwarded-"), strings.HasPrefix(k, "x-envoy-"):
		return false
	}
	return true
}
