package identity

import "github.com/switchyard-gw/switchyard/pkg/trino"

// Envoy's jwt_authn filter writes its verdict into the request's dynamic
// metadata under JWTNamespace (pkg/xds configures it): a verified token's
// claims under JWTPayloadKey, the status of one that failed under
// JWTFailureKey ({code, message}).
const (
	JWTNamespace  = "envoy.filters.http.jwt_authn"
	JWTPayloadKey = "payload"
	JWTFailureKey = "failure"
)

// Read collects a request's credentials from its headers (lower-case
// names) and jwt_authn's metadata namespace (nil: none).
func Read(headers func(yield func(k, v string) bool), jwt map[string]any) Credentials {
	var c Credentials
	for k, v := range headers {
		switch k {
		case "authorization":
			c.Authorization = v
		case "x-forwarded-proto":
			// Envoy sets it from the connection (use_remote_address, no
			// trusted hops), so a client cannot claim TLS.
			c.Secure = v == "https"
		case trino.HeaderUser:
			c.User = v
		}
	}
	c.JWT = ReadJWT(jwt)
	return c
}

// ReadJWT reads jwt_authn's verdict (nil: it saw no token).
func ReadJWT(ns map[string]any) *JWTResult {
	if ns == nil {
		return nil
	}
	if p, ok := ns[JWTPayloadKey].(map[string]any); ok {
		if p == nil {
			p = map[string]any{}
		}
		return &JWTResult{Claims: p}
	}
	if f, ok := ns[JWTFailureKey].(map[string]any); ok {
		msg, _ := f["message"].(string)
		if msg == "" {
			msg = "verification failed"
		}
		return &JWTResult{Failure: msg}
	}
	return nil
}
