package config

import "testing"

func TestMetricsListenIsOffByDefaultAndSetFromFileOrEnvironment(t *testing.T) {
	if got := Default().Metrics.Listen; got != "" {
		t.Errorf("metrics.listen defaults to %q, want empty (off)", got)
	}
	for _, c := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"the file sets it", devYAML + "metrics:\n  listen: 127.0.0.1:9090\n", nil, "127.0.0.1:9090"},
		{"the environment overrides the file", devYAML + "metrics:\n  listen: 127.0.0.1:9090\n", map[string]string{"TOKENGUARD_METRICS_LISTEN": "0.0.0.0:9464"}, "0.0.0.0:9464"},
		{"another host on the public port is another listener", devYAML + "metrics:\n  listen: 127.0.0.2:9000\n", nil, "127.0.0.2:9000"},
		{"port 0 picks a free port", "dev: true\nlisten: 127.0.0.1:0\nmetrics:\n  listen: 127.0.0.1:0\n", nil, "127.0.0.1:0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, c.yaml), true, env(c.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Metrics.Listen != c.want {
				t.Errorf("metrics.listen = %q, want %q", cfg.Metrics.Listen, c.want)
			}
		})
	}
}

func TestMetricsNeverShareThePublicListener(t *testing.T) {
	wantRefusals(t, []refusal{
		{"not an address", devYAML + "metrics:\n  listen: nine-oh-nine-oh\n", nil, "metrics.listen: want host:port"},
		{"the public address itself", devYAML + "metrics:\n  listen: 127.0.0.1:9000\n", nil, "metrics.listen: \"127.0.0.1:9000\" would share the public listener"},
		{"every address on the public port", devYAML + "metrics:\n  listen: :9000\n", nil, "metrics.listen: \":9000\" would share"},
		{"the public port on every address", "dev: true\nlisten: :9000\nmetrics:\n  listen: 127.0.0.1:9000\n", nil, "metrics.listen"},
		{"the public address through the environment", devYAML, map[string]string{"TOKENGUARD_METRICS_LISTEN": "127.0.0.1:9000"}, "metrics.listen"},
	})
}
