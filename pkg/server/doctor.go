package server

import (
	"net"
	"net/url"

	"github.com/switchyard-gw/switchyard/pkg/doctor"
)

// buildDoctor builds the cluster checks of /api/v1/doctor: they read
// coordinators with the control plane's own client (its user is the one
// that must be allowed graceful shutdown), see the events this replica
// receives, and follow probe queries through the plain HTTP listener.
func (s *Server) buildDoctor() {
	s.eventLog = doctor.NewEventLog(4096)
	o := doctor.Options{Client: s.coord, User: s.cfg.CoordinatorAPI.User, Events: s.eventLog}
	o.GatewayURL = gatewayURL(s.cfg.Listener.Address)
	if s.cfg.Listener.Authentication != nil && !s.cfg.Listener.Authentication.PassThrough {
		o.GatewaySkip = "the listener authenticates clients and the doctor has no credentials (the forwarded-header check ran on the coordinator)"
	}
	s.doctor = doctor.New(o)
}

// gatewayURL is the address clients reach the plain HTTP listener at, as
// seen from this host: an unspecified host is the loopback address.
func gatewayURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}
