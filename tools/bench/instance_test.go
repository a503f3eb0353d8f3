package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/config"
)

func TestInstanceConfigIsOneTokenguardAccepts(t *testing.T) {
	dir := t.TempDir()
	sec := secrets{hs256Secret: strings.Repeat("s", 43), es256File: filepath.Join(dir, "es256.pem"), appSecret: "app-secret-x", adminSecret: "admin-secret-y"}
	for _, spec := range []instanceSpec{
		{name: "hs256-strict", alg: "HS256", mode: "strict", redisAddr: "127.0.0.1:40001"},
		{name: "es256-mirror", alg: "ES256", mode: "mirror", redisAddr: "127.0.0.1:40001"},
	} {
		t.Run(spec.name, func(t *testing.T) {
			file := filepath.Join(dir, spec.name+".yaml")
			if err := os.WriteFile(file, []byte(instanceConfig(spec, 40002, sec)), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{hs256SecretEnv: sec.hs256Secret}
			cfg, err := config.Load(file, true, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("config.Load of the instance config: %v", err)
			}
			if got, want := cfg.Revocation.Mode, spec.mode; got != want {
				t.Errorf("revocation.mode = %q, want %q", got, want)
			}
			if diff := cmp.Diff([]string{spec.redisAddr}, cfg.Redis.Addrs); diff != "" {
				t.Errorf("redis.addrs (-want +got):\n%s", diff)
			}
			if got, want := cfg.Listen, "127.0.0.1:40002"; got != want {
				t.Errorf("listen = %q, want %q", got, want)
			}
			var feed []string
			for _, c := range cfg.Clients {
				if c.ID == feedClientID {
					feed = c.Permissions
				}
			}
			if diff := cmp.Diff([]string{"feed"}, feed); diff != "" {
				t.Errorf("the permissions of client %q, who follows the feed for the embedded verifier (-want +got):\n%s", feedClientID, diff)
			}
		})
	}
}

func TestOnlyTheCacheInstanceNamesTheCacheInItsFile(t *testing.T) {
	sec := secrets{es256File: "/tmp/es256.pem"}
	without := instanceConfig(instanceSpec{alg: "ES256", mode: "mirror"}, 1, sec)
	with := instanceConfig(instanceSpec{alg: "ES256", mode: "mirror", cacheSize: 5000}, 1, sec)
	if strings.Contains(without, "verified_cache_size") {
		t.Errorf("the config without cache names verified_cache_size:\n%s", without)
	}
	if !strings.Contains(with, "verified_cache_size: 5000") {
		t.Errorf("the config with cache lacks verified_cache_size: 5000:\n%s", with)
	}
}

func TestInstanceEnvDropsTheCallersSettingsAndSetsTheCache(t *testing.T) {
	t.Setenv("TOKENGUARD_REVOCATION_MODE", "strict")
	env := instanceEnv(instanceSpec{cacheSize: 0}, secrets{hs256Secret: "x"})
	var tokenguard []string
	for _, kv := range env {
		if strings.HasPrefix(kv, config.EnvPrefix) {
			tokenguard = append(tokenguard, kv)
		}
	}
	want := []string{"TOKENGUARD_TOKENS_VERIFIED_CACHE_SIZE=0"}
	if diff := cmp.Diff(want, tokenguard); diff != "" {
		t.Errorf("TOKENGUARD_ variables given to an instance (-want +got):\n%s", diff)
	}
}

func TestParseProcStatusReadsKilobytesAsBytes(t *testing.T) {
	status := "Name:\ttokenguard\nVmPeak:\t 1300000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\nThreads:\t7\n"
	got := parseProcStatus(status)
	want := map[string]int64{"VmPeak": 1300000 * 1024, "VmHWM": 40960 * 1024, "VmRSS": 30720 * 1024}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseProcStatus (-want +got):\n%s", diff)
	}
}

// TestReferenceAcceptsWhatAnInstanceIssues compares the reference server's
// flags with the configuration an instance of the same algorithm loads: the
// same kid and key, issuer, audience and lifetimes, or its tokens would not
// verify on the reference.
func TestReferenceAcceptsWhatAnInstanceIssues(t *testing.T) {
	dir := t.TempDir()
	sec := secrets{hs256Secret: strings.Repeat("s", 43), es256File: filepath.Join(dir, "es256.pem"), appSecret: "a", adminSecret: "b"}
	for _, alg := range []string{"HS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			spec := instanceSpec{name: "x", alg: alg, mode: "mirror", redisAddr: "127.0.0.1:40001"}
			file := filepath.Join(dir, alg+".yaml")
			if err := os.WriteFile(file, []byte(instanceConfig(spec, 40002, sec)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(file, true, func(string) string { return "" })
			if err != nil {
				t.Fatalf("config.Load of the instance config: %v", err)
			}
			k := cfg.Keys[0]
			want := map[string]string{
				"-listen": "127.0.0.1:40003", "-issuer": cfg.Issuer, "-audience": cfg.Audience,
				"-access-ttl": cfg.Tokens.AccessTTL.String(), "-leeway": cfg.Tokens.Leeway.String(),
				"-kid": k.KID, "-alg": k.Alg,
			}
			if k.SecretEnv != "" {
				want["-secret-env"] = k.SecretEnv
			} else {
				want["-private-key-file"] = k.PrivateKeyFile
			}
			args := referenceArgs(instanceSpec{alg: alg, mode: referenceMode}, 40003, sec)
			if len(args)%2 != 0 {
				t.Fatalf("referenceArgs = %q, want flag and value pairs", args)
			}
			got := map[string]string{}
			for i := 0; i < len(args); i += 2 {
				got[args[i]] = args[i+1]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reference flags against the instance's configuration (-want +got):\n%s", diff)
			}
		})
	}
}
