// Package trino holds the parts of the Trino client protocol that the gateway
// needs: query-ID and request-path parsing, the headers a gateway reads, and
// Trino-shaped error responses that every Trino client can print.
package trino
