package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGoodConfig(t *testing.T) {
	c, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Defaults filled in around what the file says.
	if c.ControlPlane.AdminAddress != "127.0.0.1:9080" || c.Listener.MaxBodyBytes != 1<<20 || c.Store.QueryTTL != 24*time.Hour {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := c.ControlPlane.ExtProcTargets; len(got) != 1 || got[0] != c.ControlPlane.ExtProcAddress {
		t.Errorf("extProcTargets default %v", got)
	}
	cos := c.Clusters[0].Coordinators
	if cos[0].Name != "0" || cos[0].Role != RoleActive || cos[1].Name != "backup" || cos[1].Role != RoleStandby {
		t.Errorf("coordinator defaults: %+v", cos)
	}
	if c.Groups[0].Strategy != StrategyRoundRobin {
		t.Errorf("strategy default %q", c.Groups[0].Strategy)
	}
	if c.CoordinatorAPI != (CoordinatorAPI{User: "switchyard", Source: "switchyard", Timeout: 5 * time.Second}) {
		t.Errorf("coordinatorAPI defaults: %+v", c.CoordinatorAPI)
	}
}

func TestCoordinatorAPI(t *testing.T) {
	base := "routing: {defaultGroup: a}\ngroups: [{name: a}]\n"
	tests := []struct {
		name, yaml string
		want       CoordinatorAPI
		err        string
	}{
		{"defaults", "", CoordinatorAPI{User: "switchyard", Source: "switchyard", Timeout: 5 * time.Second}, ""},
		{"set", "coordinatorAPI: {user: sy-prod, source: gateway, timeout: 2s}\n", CoordinatorAPI{User: "sy-prod", Source: "gateway", Timeout: 2 * time.Second}, ""},
		{"partly set", "coordinatorAPI: {timeout: 500ms}\n", CoordinatorAPI{User: "switchyard", Source: "switchyard", Timeout: 500 * time.Millisecond}, ""},
		{"unknown field", "coordinatorAPI: {usr: x}\n", CoordinatorAPI{}, `unknown field "usr" in CoordinatorAPI`},
		{"empty user", "coordinatorAPI: {user: \"\"}\n", CoordinatorAPI{}, `coordinatorAPI.user: must be a name of 1-256 bytes of UTF-8, got ""`},
		{"control character", "coordinatorAPI: {user: \"a\\tb\"}\n", CoordinatorAPI{}, `coordinatorAPI.user: must be a name without spaces or control characters, got "a\tb"`},
		{"zero timeout", "coordinatorAPI: {timeout: 0s}\n", CoordinatorAPI{}, "coordinatorAPI.timeout: must be positive, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base + tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || c.CoordinatorAPI != tt.want {
				t.Fatalf("got %+v, %v; want %+v", c, err, tt.want)
			}
		})
	}
}

// Every bad file fails with messages that name the field.
func TestBadConfigs(t *testing.T) {
	want := map[string][]string{
		"unknown-field":         {`line 1: unknown field "adress" in Listener`},
		"unknown-top":           {`unknown field "cluster" in Config`},
		"no-groups":             {"groups: at least one routing group is required", `routing.defaultGroup: names unknown group "a"`},
		"default-group-unknown": {`routing.defaultGroup: names unknown group "b"`},
		"bad-group-name":        {`groups[0].name: "A" is not a valid name`},
		"duplicate-cluster":     {`clusters[1].name: duplicate cluster "c"`},
		"cluster-unknown-group": {`clusters[0].group: names unknown group "x"`},
		"no-coordinators":       {"clusters[0].coordinators: at least one coordinator is required"},
		"bad-url":               {`clusters[0].coordinators[0].url: "ftp://1.2.3.4": scheme must be http or https`},
		"url-with-path":         {"clusters[0].coordinators[0].url: \"http://1.2.3.4:8080/trino\": must be scheme://host:port"},
		"bad-role":              {`clusters[0].coordinators[0].role: must be "active" or "standby", got "primary"`},
		"only-standby":          {`clusters[0].coordinators: at least one coordinator must have role "active"`},
		"duplicate-coordinator": {`clusters[0].coordinators[1].name: duplicate coordinator "x"`},
		"redis-no-address":      {"store.redis.address: is required when store.type is redis"},
		"redis-modes": {"store.redis.address: is for standalone mode; sentinel mode takes store.redis.addresses",
			"store.redis.addresses: at least one address is required in sentinel mode", "store.redis.masterName: is required in sentinel mode",
			`store.redis.keyPrefix: "sy:{x}:" must not contain { or }`},
		"redis-cluster": {`store.redis.addresses[1]: "nope" is not host:port`, "store.redis.masterName: and the sentinel credentials are for sentinel mode only",
			"store.redis.db: Redis Cluster has only database 0, got 3", "controlPlane.leaseTTL: must be at least 100ms, got 10ms"},
		"bad-store-type":      {`store.type: must be "memory" or "redis", got "etcd"`},
		"bad-listener":        {`listener.address: "8080" is not host:port`},
		"body-limit":          {"listener.maxBodyBytes: must be between 1024 and 67108864, got 10"},
		"bad-duration":        {"cannot unmarshal !!str `often` into time.Duration"},
		"thresholds":          {"health.fallThreshold: must be at least 1, got 0", "health.riseThreshold: must be at least 1, got -1"},
		"bad-strategy":        {`groups[0].strategy: must be one of round-robin, least-loaded, weighted, affinity, got "random"`},
		"short-ttl":           {"store.queryTTL: must be at least 1m, got 5s"},
		"empty":               {"the file is empty"},
		"bad-fallback":        {"groups[0].fallback: a group cannot fall back to itself", `groups[1].fallback: names unknown group "nope"`},
		"bad-external-router": {`routing.externalRouter.url: "tcp://x:1": want grpc://host:port or http(s)://host/path`},
		"bad-policy-dir":      {`policy.dir: "/does/not/exist" is not a readable directory`},
		"bad-token": {"admin.tokens[0].token: a token in the clear is not accepted in the file", `admin.tokens[0].role: must be "viewer", "operator" or "admin", got "root"`,
			`admin.tokens[1].tokenHash: must be "sha256:" followed by 64 lower-case hex digits`, "admin.tokens[2].tokenEnv: environment variable SWITCHYARD_TEST_UNSET_TOKEN_ENV is empty or unset"},
		"bad-cluster-fields": {"clusters[0].weight: must be between 0 and 10000, got -1", `clusters[0].tags[0]: "Bad_Tag" is not a valid tag`, `clusters[0].state: must be "active" or "inactive", got "gone"`},
		"not-yaml":           {"yaml:"},
		"governance": {"governance.slotTTL: must be at least 3s, got 1s", "governance.pollWait: must be between 10ms and 10s, got 30s",
			"governance.maxQueued: must be at least 1, got 0", "governance.clientTimeout: must be at least 1s, got 0s"},
		"governance-reconcile": {"governance.reconcileInterval: 11s is more than a third of governance.slotTTL (30s)",
			"governance.pollWait: must be less than listener.requestTimeout (2s): Envoy would cut every held poll, got 5s"},
		"event-secrets": {"events.maxBytes: must be between 1024 and 268435456, got 10",
			"events.secrets[1].secret: is the same as events.secrets[0]'s",
			`events.secrets[2].cluster: "B" is not a valid cluster name`, "events.secrets[2].secret: must be at least 16 characters",
			"events.secrets[3].secretEnv: environment variable SWITCHYARD_TEST_UNSET_SECRET_VARIABLE is empty or unset"},
		"authentication": {"listener.tls.address: must differ from listener.address (127.0.0.1:8080)", "listener.tls.certFile: is required",
			`listener.tls.keyFile: "/nonexistent/key.pem" is not readable`, `listener.authentication.forward: must be "user" or "credentials", got "cluster"`,
			"listener.authentication.password.file: is required", "listener.authentication.password.cacheSize: must be between 1 and 1000000, got -1",
			"listener.authentication.jwt.issuer: is required", "listener.authentication.jwt: set one of jwksFile and jwksURL, not both",
			"listener.authentication.jwt.jwksCache: must be at least 1s, got 1ms"},
		"authentication-http": {"listener.authentication: passwords and tokens are only accepted over HTTPS: set listener.tls",
			`listener.authentication.forward: must be "credentials" with passThrough`, `listener.authentication.jwt.jwksCAFile: "/nonexistent/ca.pem" is not readable`},
		"redis-password-env": {"store.redis.passwordEnv: environment variable SWITCHYARD_TEST_UNSET_REDIS_PASSWORD is empty or unset",
			"store.redis.sentinelPasswordEnv: set one of the password and store.redis.sentinelPasswordEnv, not both"},
		"autorecovery": {"autoRecovery.interval: must be between 100ms and 10m, got 1ms",
			"autoRecovery.restartLoop.restarts: must be 0 (off) or between 2 and 100, got 1",
			"autoRecovery.errorRate.minQueries: must be at least 1, got 0", "autoRecovery.errorRate.window: must be between 10s and 24h, got 1s",
			"autoRecovery.stableFor: must be between 1s and 168h, got 0s", `autoRecovery.notify.url: want http(s)://host[:port]/path, got "ftp://x"`,
			`autoRecovery.notify.format: want webhook or alertmanager, got "slack"`, "autoRecovery.notify.timeout: must be between 100ms and 1m, got 1h0m0s",
			`console.alertmanagerURL: want http(s)://host[:port], got "am:9093"`},
		"protection": {"protection.incidentTTL: must be at least 1m, got 1s", "protection.incidentCacheTTL: must be between 0 (no cache) and 1m, got 2m0s",
			"protection.watchdog.interval: must be between 500ms and 10m, got 1ms"},
		"coordinator-api": {`coordinatorAPI.user: must be a name without spaces or control characters, got "two words"`,
			`coordinatorAPI.source: must be a name of 1-256 bytes of UTF-8, got ""`, "coordinatorAPI.timeout: must be positive, got -1s"},
	}
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) != len(want) {
		t.Errorf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bad.yaml")
		t.Run(name, func(t *testing.T) {
			msgs, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", f)
			}
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, m := range msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\ndoes not contain %q", err, m)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want a not-exist error, got %v", err)
	}
}

func TestParseCoordinatorURL(t *testing.T) {
	ep, err := ParseCoordinatorURL("https://trino.example.com")
	if err != nil || ep.Port != 443 || ep.Host != "trino.example.com" || ep.Scheme != "https" {
		t.Fatalf("%+v %v", ep, err)
	}
	ep, err = ParseCoordinatorURL("http://[::1]:8080/")
	if err != nil || ep.Port != 8080 || ep.Host != "::1" {
		t.Fatalf("%+v %v", ep, err)
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "http://", "http://h:0", "http://h:99999", "http://u:p@h:1", "http://h:1?x=1"} {
		if _, err := ParseCoordinatorURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
