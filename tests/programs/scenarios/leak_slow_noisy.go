package main

// slow-leak-noisy: a slow leak hidden under noisy load.
//
// About once a program minute a client subscribes to a feed: openFeed starts a consumer that
// ranges over the feed's channel and a producer that sends a few events. The producer returns
// early when its upstream ends, WITHOUT closing the channel, so the consumer stays in
// `chan receive` forever: +1 goroutine per minute. Meanwhile the number of in-flight requests
// jumps between 50 and 150 every minute (each one several goroutines), so the total goroutine
// count is far noisier than the leak; only the consumer's own group grows steadily.
// Fix: the producer must `defer close(ch)` (or both sides watch a ctx).
func init() {
	register("slow-leak-noisy", scenario{
		help: "leak: ~1/min consumer stuck in chan receive, under load varying 50..150 in flight",
		run:  runSlowLeakNoisy,
	})
}

func runSlowLeakNoisy(e *env) {
	load := newLoadGen(e, 0.2, 1.0)
	go e.track(func(t float64) float64 { return noisyLevel(e, t) }, load.set)
	e.every(1, func() { openFeed(3) })
}

type event struct{ seq int }

// noisyLevel picks a new random concurrency in [50, 150] once per program minute.
func noisyLevel(e *env, t float64) float64 {
	if minute := int(t); minute != noisyMinute {
		noisyMinute, noisyValue = minute, e.uniform(50, 150)
	}
	return noisyValue
}

var ( // only touched by the one tracking goroutine
	noisyMinute = -1
	noisyValue  float64
)

func openFeed(events int) {
	ch := make(chan event)
	go consumeFeed(ch)
	go produceFeed(ch, events)
}

func produceFeed(ch chan<- event, n int) {
	for i := range n {
		ch <- event{seq: i}
	}
	// the bug: upstream ended and we return without close(ch)
}

func consumeFeed(ch <-chan event) {
	last := 0
	for ev := range ch { // blocks forever once the producer is gone
		last = ev.seq
	}
	_ = last
}
