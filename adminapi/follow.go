package adminapi

import (
	"context"
	"errors"
	"slices"
	"time"
)

// maxCatchUpPages bounds how far back one poll of Follow pages to find the
// last event it printed.
const maxCatchUpPages = 100

// Follow prints the audit trail as it grows, like tail -f: first the newest
// page selected by q (q.Before is ignored), oldest first, then, every
// interval, the events newer than the last one shown, oldest first. It
// returns nil when ctx is cancelled (the operator pressed Ctrl-C), the
// first error of a poll otherwise, or emit's error.
func (c *Client) Follow(ctx context.Context, q EventQuery, interval time.Duration, emit func(Event) error) error {
	if interval <= 0 {
		return errors.New("the polling interval must be positive")
	}
	q.Before = ""
	page, err := c.Events(ctx, q)
	if err != nil {
		return ignoreCancel(ctx, err)
	}
	var last *Event
	if len(page.Events) > 0 {
		last = &page.Events[0]
	}
	if err := emitOldestFirst(page.Events, emit); err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fresh, err := c.newerThan(ctx, q, last)
		if err != nil {
			return ignoreCancel(ctx, err)
		}
		if len(fresh) > 0 {
			last = &fresh[0]
		}
		if err := emitOldestFirst(fresh, emit); err != nil {
			return err
		}
	}
}

// newerThan pages from the newest event back to last (by id, or failing
// that, by time, in case last has been trimmed away) and returns what came
// after it, newest first. With no last event, it returns the first page.
func (c *Client) newerThan(ctx context.Context, q EventQuery, last *Event) ([]Event, error) {
	var fresh []Event
	q.Before = ""
	for range maxCatchUpPages {
		page, err := c.Events(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			if last != nil && (e.ID == last.ID || e.Time.Before(last.Time)) {
				return fresh, nil
			}
			fresh = append(fresh, e)
		}
		if last == nil || page.NextBefore == "" {
			return fresh, nil
		}
		q.Before = page.NextBefore
	}
	return fresh, nil
}

func emitOldestFirst(newestFirst []Event, emit func(Event) error) error {
	for _, e := range slices.Backward(newestFirst) {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

// ignoreCancel turns the error of a call cut short by ctx into nil.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
