package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/xds"
)

func newBootstrapCmd() *cobra.Command {
	var o xds.BootstrapOptions
	var xdsAddrs string
	c := &cobra.Command{
		Use:   "bootstrap [flags]",
		Short: "Print an Envoy bootstrap that points at the control plane",
		Long: `Print an Envoy bootstrap (YAML) that points at the control plane: listeners,
routes, clusters and endpoints then come over xDS.

Its --admin is the Envoy admin address, not the control plane's admin API.`,
		Example: "  switchyard bootstrap --node-id edge-1 --xds 10.0.0.1:18000,10.0.0.2:18000 --admin 127.0.0.1:9901 > envoy.yaml",
		GroupID: groupGateway,
		Args:    positional(),
	}
	c.Flags().StringVar(&o.NodeID, "node-id", "envoy-1", "Envoy node ID")
	c.Flags().StringVar(&xdsAddrs, "xds", "127.0.0.1:18000", "control-plane xDS address(es), comma separated")
	c.Flags().StringVar(&o.AdminAddress, "admin", "127.0.0.1:9901", "Envoy admin address")
	c.Flags().IntVar(&o.MaxConnections, "max-connections", 50000, "global downstream connection limit")
	c.Flags().Int64Var(&o.MaxHeapBytes, "max-heap-bytes", xds.DefaultMaxHeapBytes, "Envoy heap the overload manager protects: it sheds memory from 95% and stops accepting new requests at 98%")
	c.Flags().StringVar(&o.TLSCert, "tls-cert", "", "Envoy's client certificate (PEM file) for mutual TLS with the control plane (controlPlane.grpcTLS)")
	c.Flags().StringVar(&o.TLSKey, "tls-key", "", "its private key (PEM file)")
	c.Flags().StringVar(&o.TLSCA, "tls-ca", "", "the CA the control plane's certificate chains to (PEM file)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		// Every replica's address: the ADS stream goes to one that is up
		// and moves to another when it dies.
		o.XDSAddresses = nil
		for _, a := range strings.Split(xdsAddrs, ",") {
			o.XDSAddresses = append(o.XDSAddresses, strings.TrimSpace(a))
		}
		out, err := xds.Bootstrap(o)
		if err != nil {
			return err
		}
		_, err = io.WriteString(c.OutOrStdout(), out)
		return err
	}
	return c
}
