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
	// off is accepted only by a binary built with the bench tag, which this
	// test is not; mirror and strict load the same way.
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
