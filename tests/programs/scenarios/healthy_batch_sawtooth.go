package main

import (
	"sync"
	"time"
)

// batch-sawtooth (healthy): every 10 program minutes a batch job fans out ~1,000 goroutines,
// one per item, each waiting on a backend for 0.5..5 minutes; all are done within ~5 minutes
// and the count falls back to the baseline. A sawtooth, not a leak.
func init() {
	register("batch-sawtooth", scenario{
		help: "healthy: every 10 min a batch of ~1,000 goroutines that finish within ~5 min",
		run:  runBatchSawtooth,
	})
}

func runBatchSawtooth(e *env) {
	tick := time.NewTicker(e.minute)
	defer tick.Stop()
	next := 10.0
	for range tick.C {
		if e.now() >= next-0.01 {
			go runBatch(e, 950+int(e.uniform(0, 100)))
			next += 10
		}
	}
}

func runBatch(e *env, items int) {
	var wg sync.WaitGroup
	for range items {
		wg.Go(func() { processItem(e, e.uniform(0.5, 5)) })
	}
	wg.Wait()
}

func processItem(e *env, minutes float64) {
	time.Sleep(e.mins(minutes))
}
