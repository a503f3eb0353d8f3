package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// infoMemory is the start of Redis 7's INFO memory, CRLF and all.
const infoMemory = "# Memory\r\nused_memory:20250000\r\nused_memory_human:19.31M\r\nused_memory_rss:30720000\r\n" +
	"used_memory_peak:20300000\r\nmem_allocator:jemalloc-5.3.0\r\n\r\n# Keyspace\r\ndb0:keys=100016,expires=100016,avg_ttl=929000\r\n"

func TestParseInfoReadsKeysAndValues(t *testing.T) {
	got := parseInfo(infoMemory)
	want := map[string]string{
		"used_memory":       "20250000",
		"used_memory_human": "19.31M",
		"used_memory_rss":   "30720000",
		"used_memory_peak":  "20300000",
		"mem_allocator":     "jemalloc-5.3.0",
		"db0":               "keys=100016,expires=100016,avg_ttl=929000",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseInfo (-want +got):\n%s", diff)
	}
}

func TestInfoIntReadsIntegersAndNamesWhatIsWrong(t *testing.T) {
	info := parseInfo(infoMemory)
	if got, err := infoInt(info, "used_memory"); err != nil || got != 20250000 {
		t.Errorf("infoInt(used_memory) = %d, %v; want 20250000, nil", got, err)
	}
	for _, key := range []string{"used_memory_human", "no_such_field"} {
		if got, err := infoInt(info, key); err == nil {
			t.Errorf("infoInt(%s) = %d, nil; want an error", key, got)
		}
	}
}
