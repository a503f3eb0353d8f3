package handlers

import "time"

// timestampLayout is the one way a time is written in a JSON answer:
// RFC 3339 in UTC with exactly three fractional digits, such as
// 2030-01-02T03:04:05.000Z. Milliseconds are the coarsest precision the
// stores keep (a session's times, the ids of the audit stream): finer
// digits (an event's or a cut-off's microseconds, a ban's nanoseconds)
// mean nothing to a reader, while whole seconds would hide the order of
// the events of one second. A fixed width sorts as text in time order,
// and it is what JavaScript's Date.toISOString writes and every RFC 3339
// parser reads.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// timestamp is a time as every view renders it (see timestampLayout). A
// nullable time is a *timestamp.
type timestamp time.Time

// stamp returns t as rendered in an answer.
func stamp(t time.Time) timestamp { return timestamp(t) }

// stampOrNil returns nil for the zero time, t as stamped otherwise.
func stampOrNil(t time.Time) *timestamp {
	if t.IsZero() {
		return nil
	}
	ts := stamp(t)
	return &ts
}

// MarshalJSON writes the time as a JSON string in timestampLayout.
func (t timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}
