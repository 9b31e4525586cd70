package config

import (
	"strings"
	"testing"
)

func TestAdminTokens(t *testing.T) {
	const base = "routing: {defaultGroup: a}\ngroups: [{name: a}]\n"
	good := HashToken("a-token-of-sixteen-or-more")
	t.Setenv("SY_TEST_SHORT_TOKEN", "short")
	t.Setenv("SY_TEST_GOOD_TOKEN", "a-token-of-sixteen-or-more")
	for _, c := range []struct {
		name, tokens, want string
	}{
		{"hash", `[{name: a, tokenHash: "` + good + `", role: operator}]`, ""},
		{"env", `[{name: a, tokenEnv: SY_TEST_GOOD_TOKEN, role: viewer}]`, ""},
		{"short env", `[{name: a, tokenEnv: SY_TEST_SHORT_TOKEN, role: viewer}]`, "admin.tokens[0].tokenEnv: environment variable SY_TEST_SHORT_TOKEN must hold at least 16 characters, it holds 5"},
		{"both", `[{name: a, tokenEnv: SY_TEST_UNSET_TOKEN, tokenHash: "` + good + `", role: viewer}]`, "admin.tokens[0]: set one of tokenHash and tokenEnv, not both"},
		{"neither", `[{name: a, role: viewer}]`, "admin.tokens[0].tokenHash: is required (or tokenEnv)"},
		{"duplicate", `[{name: a, tokenHash: "` + good + `", role: viewer}, {name: b, tokenEnv: SY_TEST_GOOD_TOKEN, role: admin}]`, "admin.tokens[1].tokenHash: is the same as another token's"},
		{"upper-case hash", `[{name: a, tokenHash: "` + strings.ToUpper(good[:7]) + strings.ToUpper(good[7:]) + `", role: viewer}]`, "admin.tokens[0].tokenHash: must be"},
		{"no name", `[{tokenHash: "` + good + `", role: viewer}]`, "admin.tokens[0].name: is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte("admin: {tokens: " + c.tokens + "}\n" + base))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Admin.Tokens[0].TokenHash != good {
					t.Errorf("tokenHash %q, want %q", cfg.Admin.Tokens[0].TokenHash, good)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "a-token-of-sixteen") || strings.Contains(err.Error(), "short\"") {
				t.Errorf("the error repeats a token: %v", err)
			}
		})
	}
}
