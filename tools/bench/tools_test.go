package main

import "testing"

func TestMachineDescriptionsAreShortened(t *testing.T) {
	cases := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"redis-server --version keeps version and allocator", redisVersion,
			"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n", "Redis 7.0.15 (jemalloc-5.3.0)"},
		{"an unfamiliar redis-server --version is kept as it is", redisVersion, "KeyDB 6.3\n", "KeyDB 6.3"},
		{"wrk -v loses its copyright", wrkVersion,
			"wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk <options> <url>\n", "wrk debian/4.1.0-3+b2 [epoll]"},
		{"the CPU model is the first model name", func(s string) string { return cpuModel([]byte(s)) },
			"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		{"no model name is unknown", func(s string) string { return cpuModel([]byte(s)) }, "processor\t: 0\n", "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.fn(c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
