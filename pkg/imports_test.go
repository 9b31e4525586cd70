// Package pkg_test enforces the import rules of docs/architecture.md: which
// packages may talk Envoy, which must stay free of transports, and that
// nothing depends upward (on the server, the CLI or the admin API) or on
// the test tools under e2e/.
package pkg_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/switchyard-gw/switchyard/"

// imports lists every package of the module with its direct imports
// (test files excluded: tests may use anything).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[strings.TrimPrefix(f[0], module)] = f[1:]
	}
	return m
}

// The packages that speak Envoy's APIs: the translator and ADS server, and
// the gRPC services Envoy calls; in the lab, the poll A/B tool's floor
// processor (e2e/pollab/floor.go), an ext_proc and ext_authz server that
// decides nothing.
var envoyAdapters = map[string]bool{"pkg/xds": true, "pkg/extproc": true, "pkg/authz": true, "pkg/txlog": true, "e2e/pollab": true}

// layer orders the wiring and the user interfaces above the domain
// packages (layer 0): a package may import only lower layers.
func layer(pkg string) int {
	switch {
	case strings.HasPrefix(pkg, "cmd/"):
		return 4
	case pkg == "pkg/cli":
		return 3
	case pkg == "pkg/server":
		return 2
	case pkg == "pkg/admin":
		return 1
	}
	return 0
}

func TestImportRules(t *testing.T) {
	m := imports(t)
	if len(m) < 20 {
		t.Fatalf("go list found %d packages", len(m))
	}
	var broken []string
	fail := func(pkg, imp, why string) { broken = append(broken, pkg+" imports "+imp+": "+why) }
	for pkg, imps := range m {
		for _, imp := range imps {
			local := strings.TrimPrefix(imp, module)
			switch {
			case strings.HasPrefix(imp, "github.com/envoyproxy/") && !envoyAdapters[pkg]:
				fail(pkg, imp, "only the Envoy adapters (pkg/xds, pkg/extproc, pkg/authz, pkg/txlog; e2e/pollab in the lab) use Envoy's types")
			case strings.HasPrefix(pkg, "pkg/") && strings.HasPrefix(local, "e2e/"):
				fail(pkg, imp, "the product does not depend on the test tools")
			}
			if local != imp && layer(local) > 0 && layer(local) >= layer(pkg) {
				fail(pkg, imp, "depends upward, on the wiring or a user interface")
			}
		}
	}
	// The admission pipeline knows nothing of how requests reach it.
	for _, imp := range m["pkg/admission"] {
		local := strings.TrimPrefix(imp, module)
		if strings.HasPrefix(imp, "google.golang.org/grpc") || imp == "net/http" || envoyAdapters[local] {
			fail("pkg/admission", imp, "the admission pipeline imports no transport")
		}
	}
	// The model and protocol packages are leaves.
	for pkg, allowed := range map[string][]string{
		"pkg/trino": nil, "pkg/config": nil, "pkg/store": nil, "pkg/sqlclass": nil, "pkg/fleet": {"pkg/config"},
		"pkg/governance": {"pkg/trino"}, "pkg/events": {"pkg/trino"}, "pkg/passwordfile": {"pkg/filewatch"}, "pkg/identity": {"pkg/trino"}, "pkg/tlsfiles": {"pkg/filewatch"}, "pkg/filewatch": nil, "pkg/trinosize": nil,
	} {
		for _, imp := range m[pkg] {
			local := strings.TrimPrefix(imp, module)
			if local != imp && !contains(allowed, local) {
				fail(pkg, imp, "a leaf package imports only the standard library and third-party code")
			}
		}
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Error(b)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
