package xds

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/switchyard-gw/switchyard/pkg/identity"
)

const (
	jwtAuthnName = identity.JWTNamespace
	// jwtProviderName names the one provider of the filter.
	jwtProviderName = "switchyard"
	// JWKSCluster is where Envoy fetches a remote key set.
	JWKSCluster = "switchyard_jwks"
	// systemCABundle is the CA bundle a remote key set's certificate is
	// checked against when none is configured (Debian's).
	systemCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// JWTProvider is how Envoy verifies bearer tokens: the issuer and
// audiences tokens must carry, and the key set, inline (read by the
// control plane from a file, handed over again when it changes) or at an
// https:// URL Envoy fetches.
type JWTProvider struct {
	Issuer    string
	Audiences []string
	JWKS      string // inline key set (JSON)
	JWKSURL   string
	JWKSCA    string // PEM CA bundle for JWKSURL ("": the system's)
	Cache     time.Duration
}

// jwtAuthnFilter verifies bearer tokens (Envoy's jwt_authn), on when
// Options.JWT is set. It decides nothing: a verified token's claims, or
// why a token failed, go into the request's dynamic metadata, and the
// control plane (ext_proc, ext_authz) decides with the other methods
// (pkg/identity). A request without a token passes on for them.
type jwtAuthnFilter struct{}

func (jwtAuthnFilter) name() string { return jwtAuthnName }

func (jwtAuthnFilter) enabled(o Options) bool { return o.JWT != nil }

func (jwtAuthnFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	j := o.JWT
	p := &jwtv3.JwtProvider{
		Issuer:    j.Issuer,
		Audiences: j.Audiences,
		// Kept for ext_proc and for clusters that get the credentials.
		Forward: true,
		// Only the Authorization header (not Envoy's default access_token
		// query parameter, which would end up in logs).
		FromHeaders:            []*jwtv3.JwtHeader{{Name: "Authorization", ValuePrefix: "Bearer "}},
		PayloadInMetadata:      identity.JWTPayloadKey,
		FailedStatusInMetadata: identity.JWTFailureKey,
	}
	switch {
	case j.JWKS != "":
		p.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: j.JWKS},
		}}
	case j.JWKSURL != "":
		p.JwksSourceSpecifier = &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtv3.RemoteJwks{
			HttpUri: &corev3.HttpUri{
				Uri:              j.JWKSURL,
				HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: JWKSCluster},
				Timeout:          durationpb.New(5 * time.Second),
			},
			CacheDuration: durationpb.New(j.Cache),
			// Fetched when the listener starts and refreshed before it
			// expires, so no request waits for it.
			AsyncFetch: &jwtv3.JwksAsyncFetch{},
		}}
	default:
		return fmt.Errorf("no key set: set JWKS or JWKSURL")
	}
	hcm.HttpFilters = append(hcm.HttpFilters, typedFilter(jwtAuthnName, &jwtv3.JwtAuthentication{
		Providers: map[string]*jwtv3.JwtProvider{jwtProviderName: p},
		Rules: []*jwtv3.RequirementRule{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtv3.RequirementRule_Requires{Requires: &jwtv3.JwtRequirement{
				RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{
					Requirements: []*jwtv3.JwtRequirement{
						{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: jwtProviderName}},
						{RequiresType: &jwtv3.JwtRequirement_AllowMissingOrFailed{AllowMissingOrFailed: &emptypb.Empty{}}},
					},
				}},
			}},
		}},
	}))
	return nil
}

// patchRoute: a query's prefixed polls and queued polls are not
// authenticated by the gateway (their URIs carry the coordinator's slug,
// as Trino's do), so their tokens are not verified either.
func (jwtAuthnFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	switch kind {
	case kindPrefixedPoll, kindQueue:
		setPerFilterConfig(r, jwtAuthnName, &jwtv3.PerRouteConfig{
			RequirementSpecifier: &jwtv3.PerRouteConfig_Disabled{Disabled: true},
		})
	}
	return nil
}

func (jwtAuthnFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

// patchResources adds the cluster a remote key set is fetched from.
func (jwtAuthnFilter) patchResources(r *Resources, o Options) error {
	if o.JWT.JWKSURL == "" {
		return nil
	}
	c, err := jwksCluster(o.JWT)
	if err != nil {
		return err
	}
	r.Clusters = append(r.Clusters, c)
	return nil
}

// jwksCluster reaches the key set's host over TLS, its certificate
// checked against the configured CA (or the system's) and its name.
func jwksCluster(j *JWTProvider) (*clusterv3.Cluster, error) {
	u, err := url.Parse(j.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("jwks URL: %w", err)
	}
	port := uint64(443)
	if p := u.Port(); p != "" {
		if port, err = strconv.ParseUint(p, 10, 16); err != nil {
			return nil, fmt.Errorf("jwks URL: bad port %q", p)
		}
	}
	ca := &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: systemCABundle}}
	if j.JWKSCA != "" {
		ca = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: j.JWKSCA}}
	}
	c, err := serviceCluster(JWKSCluster, []string{fmt.Sprintf("%s:%d", u.Hostname(), port)})
	if err != nil {
		return nil, err
	}
	c.TypedExtensionProtocolOptions = nil // HTTP/1.1 to an ordinary web server
	c.TransportSocket = &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			Sni: u.Hostname(),
			CommonTlsContext: &tlsv3.CommonTlsContext{
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa: ca,
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: sanType(u.Hostname()),
						Matcher: exactMatcher(u.Hostname()),
					}},
				}},
			},
		})},
	}
	return c, nil
}

// sanType is the kind of subject alternative name a host is checked
// against: an IP address or a DNS name.
func sanType(host string) tlsv3.SubjectAltNameMatcher_SanType {
	if net.ParseIP(host) != nil {
		return tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	return tlsv3.SubjectAltNameMatcher_DNS
}

func exactMatcher(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}
