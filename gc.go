package main

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is how much the heap may grow between two garbage collections
// at least, whatever the live heap. Go's default (GOGC=100) lets it grow by
// the live heap, but no less than 4 MiB; tokenguard's live heap is a few
// MiB until the mirror holds hundreds of thousands of revocations, while
// /v1/verify allocates a few KiB per request (most of it net/http's request
// and header maps), so at 30,000 requests/s the default collects 30 to 40
// times a second, and the requests that meet a collection's stop-the-world
// pauses and mark assists make the p99 (docs/performance.md, "The tail of
// /v1/verify"). With 64 MiB of headroom it collects a few times a second.
// It costs at most that much more memory than the default, and nothing once
// the live heap is larger than gcHeadroom: then GOGC=100's proportional
// growth is already more.
const gcHeadroom = 64 << 20

// gcTuneEvery is how often the GC target follows the live heap: the mirror
// grows and shrinks with the revocations, slowly.
const gcTuneEvery = time.Second

// keepGCHeadroom makes the garbage collector leave at least gcHeadroom of
// growth over the live heap, by raising GOGC while the live heap is
// smaller than gcHeadroom and keeping it at 100 otherwise; it re-reads the
// live heap every gcTuneEvery until the returned function is called, which
// restores GOGC. An operator's own GOGC or GOMEMLIMIT is left alone: then
// it does nothing.
func keepGCHeadroom(getenv func(string) string, log *slog.Logger) (stop func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		log.Info("garbage collector: GOGC or GOMEMLIMIT set in the environment, left as set")
		return func() {}
	}
	log.Info("garbage collector: heap headroom kept", "min_headroom_mib", gcHeadroom>>20)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		set := debug.SetGCPercent(100)
		defer debug.SetGCPercent(set)
		current := 100
		t := time.NewTicker(gcTuneEvery)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				if p := gcPercent(sample[0].Value.Uint64(), gcHeadroom); p != current {
					debug.SetGCPercent(p)
					current = p
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// gcPercent is the GOGC that lets a heap of live bytes grow by at least
// headroom before the next collection, and never by less than GOGC=100's
// live bytes. It is rounded up to a multiple of 50, so that the small
// changes of a busy heap do not reset the target every time.
func gcPercent(live, headroom uint64) int {
	const step = 50
	if live == 0 || live >= headroom {
		return 100
	}
	p := (headroom*100 + live - 1) / live // ceil(headroom / live × 100)
	p = (p + step - 1) / step * step
	if p > 100_000 { // a nearly empty heap: 64 MiB over 64 KiB is plenty
		p = 100_000
	}
	return int(max(p, 100))
}
