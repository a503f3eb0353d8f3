package blacklist

import (
	"errors"
	"testing"
)

// Tests of the feed's bookkeeping (feed.go); the stream end to end is
// tested through handlers and the served binary.

func TestFeedResumesWithinItsBacklogAndNotBeyond(t *testing.T) {
	f := newFeed(3, 8)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		f.publish(Change{Kind: ChangeToken, ID: id})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cases := []struct {
		name     string
		position string
		want     bool
	}{
		{"the latest position resumes", f.position(5), true},
		{"a position the backlog still follows resumes", f.position(2), true},
		{"a position older than the backlog does not", f.position(1), false},
		{"a position ahead of the feed does not", f.position(6), false},
		{"another epoch's position does not", "other-4", false},
		{"garbage does not", "garbage", false},
		{"no position does not", "", false},
	}
	for _, c := range cases {
		if _, got := f.resumable(c.position); got != c.want {
			t.Errorf("%s: resumable(%q) = %v, want %v", c.name, c.position, got, c.want)
		}
	}
}

func TestFeedDropsASubscriberWhoseBufferIsFullAndKeepsTheOthers(t *testing.T) {
	f := newFeed(16, 2)
	slow := &Subscription{f: f, ch: make(chan Event, 2)}
	fast := &Subscription{f: f, ch: make(chan Event, 8)}
	f.subs[slow], f.subs[fast] = struct{}{}, struct{}{}
	for _, id := range []string{"a", "b", "c"} {
		f.publish(Change{Kind: ChangeToken, ID: id})
	}
	if err := slow.Err(); !errors.Is(err, ErrTooSlow) {
		t.Errorf("the slow subscriber's error = %v, want ErrTooSlow", err)
	}
	n := 0
	for range slow.ch {
		n++
	}
	if n != 2 {
		t.Errorf("the slow subscriber got %d events before its channel closed, want its 2 buffered", n)
	}
	if len(fast.ch) != 3 || f.subscribers() != 1 {
		t.Errorf("the other subscriber holds %d events, %d subscribers left; want 3 and 1", len(fast.ch), f.subscribers())
	}
}

func TestFeedResetEndsEverySubscriptionAndForgetsOldPositions(t *testing.T) {
	f := newFeed(16, 8)
	f.publish(Change{Kind: ChangeToken, ID: "a"})
	old := f.position(1)
	sub := &Subscription{f: f, ch: make(chan Event, 8)}
	f.subs[sub] = struct{}{}
	f.reset()
	if err := sub.Err(); !errors.Is(err, ErrResync) {
		t.Errorf("after a reset the subscription's error = %v, want ErrResync", err)
	}
	f.mu.Lock()
	_, ok := f.resumable(old)
	f.mu.Unlock()
	if ok {
		t.Errorf("position %q resumes after a reset, want a fresh snapshot", old)
	}
	sub.Close() // after the reset ended it: no double close
}
