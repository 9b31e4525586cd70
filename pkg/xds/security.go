package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// Names of the HTTPS side of the client listener.
const (
	ListenerTLSName  = "switchyard_client_tls"
	ClientCertSecret = "switchyard_client_cert"
)

// ListenerTLS is the HTTPS listener: its address and the certificate the
// control plane read from its files (PEM), handed to every Envoy as an SDS
// secret, so a rotation is a new snapshot and no Envoy reads a file.
type ListenerTLS struct {
	Address         string
	CertPEM, KeyPEM string
}

// tlsListener is the client listener again, on the HTTPS address with TLS
// on its filter chain (same connection manager, same routes), and the
// secret it names.
func tlsListener(plain *listenerv3.Listener, o Options) (*listenerv3.Listener, *tlsv3.Secret, error) {
	host, port, err := splitHostPort(o.TLS.Address)
	if err != nil {
		return nil, nil, err
	}
	if o.TLS.CertPEM == "" || o.TLS.KeyPEM == "" {
		return nil, nil, fmt.Errorf("no certificate or key for %s", o.TLS.Address)
	}
	l := proto.Clone(plain).(*listenerv3.Listener)
	l.Name = ListenerTLSName
	l.Address = socketAddress(host, port)
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name: ClientCertSecret, SdsConfig: adsSource(),
		}},
		AlpnProtocols: []string{"h2", "http/1.1"},
	}}
	for _, fc := range l.FilterChains {
		fc.TransportSocket = &corev3.TransportSocket{
			Name:       "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
		}
	}
	sec := &tlsv3.Secret{Name: ClientCertSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: o.TLS.CertPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: o.TLS.KeyPEM}},
	}}}
	return l, sec, nil
}

// The secrets an Envoy's bootstrap defines for mutual TLS with the control
// plane (switchyard bootstrap --tls-cert, --tls-key, --tls-ca): its client
// certificate and the CA the control plane's certificate chains to. Envoy
// reads the files, and reads them again when they change.
const (
	ControlPlaneClientSecret = "switchyard_control_plane_client"
	ControlPlaneCASecret     = "switchyard_control_plane_ca"
)

// controlPlaneTransportSocket is mutual TLS to the control plane's gRPC
// services with the bootstrap's secrets, negotiating HTTP/2 (gRPC
// requires it).
func controlPlaneTransportSocket() *corev3.TransportSocket { return controlPlaneTLS("h2") }

// controlPlaneTLS is mutual TLS to the control plane with the bootstrap's
// secrets, negotiating alpn.
func controlPlaneTLS(alpn string) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			CommonTlsContext: &tlsv3.CommonTlsContext{
				AlpnProtocols:                  []string{alpn},
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: ControlPlaneClientSecret}},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
					ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: ControlPlaneCASecret},
				},
			},
		})},
	}
}
