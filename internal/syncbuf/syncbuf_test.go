package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferCollectsConcurrentWritesAndResets(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := b.Write([]byte("x\n")); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 800 {
		t.Fatalf("lines = %d, want 800", got)
	}
	b.Reset()
	if got := b.String(); got != "" {
		t.Fatalf("after Reset: %q, want empty", got)
	}
}
