package metrics

import "github.com/prometheus/client_golang/prometheus"

// maxSignalSeries bounds each SSF metric's series; the transmitter's label
// values come from fixed sets well under it, anything beyond counts as
// "other".
const maxSignalSeries = 32

// signalMetrics are the SSF transmitter's counters (signals.Metrics).
type signalMetrics struct {
	queued, delivered, failed, dropped lazy[[2]string, prometheus.Counter]
}

func newSignalMetrics(reg *prometheus.Registry) *signalMetrics {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	queued := vec("ssf_events_queued_total", "SSF events signed and queued in a stream's outbox, by event type.", "type")
	delivered := vec("ssf_events_delivered_total", "SSF events a receiver acknowledged, by event type and delivery method (push, poll).", "type", "method")
	failed := vec("ssf_events_failed_total", "Failed SSF deliveries, by event type and outcome (rejected: the receiver refused the SET, which is dropped; status: another answer; unreachable: no answer).", "type", "outcome")
	dropped := vec("ssf_events_dropped_total", "SSF events dropped undelivered, by reason (retention, disabled, store_error).", "reason")
	lz := func(make func(k [2]string) prometheus.Counter) lazy[[2]string, prometheus.Counter] {
		return lazy[[2]string, prometheus.Counter]{max: maxSignalSeries, overflow: [2]string{otherLabel, otherLabel}, make: make}
	}
	return &signalMetrics{
		queued:    lz(func(k [2]string) prometheus.Counter { return queued.WithLabelValues(k[0]) }),
		delivered: lz(func(k [2]string) prometheus.Counter { return delivered.WithLabelValues(k[0], k[1]) }),
		failed:    lz(func(k [2]string) prometheus.Counter { return failed.WithLabelValues(k[0], k[1]) }),
		dropped:   lz(func(k [2]string) prometheus.Counter { return dropped.WithLabelValues(k[0]) }),
	}
}

// EventQueued counts an SSF event queued (signals.Metrics).
func (m *Metrics) EventQueued(eventType string) { m.signals.queued.get([2]string{eventType}).Inc() }

// EventDelivered counts an SSF event acknowledged (signals.Metrics).
func (m *Metrics) EventDelivered(eventType, method string) {
	m.signals.delivered.get([2]string{eventType, method}).Inc()
}

// EventFailed counts a failed SSF delivery (signals.Metrics).
func (m *Metrics) EventFailed(eventType, outcome string) {
	m.signals.failed.get([2]string{eventType, outcome}).Inc()
}

// EventsDropped counts n SSF events dropped undelivered (signals.Metrics).
func (m *Metrics) EventsDropped(reason string, n int) {
	m.signals.dropped.get([2]string{reason}).Add(float64(n))
}
