package main

import "time"

// warmup-fill (healthy): a service warming up. A worker pool grows lazily, on demand, from 0
// to its cap of 500 over the first ~10 program minutes (demand ramps as caches warm), and the
// shared client's connection pool fills up as request concurrency ramps to 80. Then both stay
// flat for good. Growth that stops is not a leak (warm-up exclusion / "still rising" test).
func init() {
	register("warmup-fill", scenario{
		help: "healthy: worker pool 0->500 and client conn pool filling over ~10 min, then flat",
		run:  runWarmupFill,
	})
}

func runWarmupFill(e *env) {
	load := newLoadGen(e, 0.2, 1.0)
	go e.track(func(t float64) float64 { return 80 * min(1, t/10) }, load.set)
	pool := &lazyPool{e: e, cap: 500, jobs: make(chan float64)}
	// ~1,000 jobs/min of ~0.5 min each: a demand of ~500 busy workers once warm.
	e.every(1000, func() { pool.submit(e.uniform(0.3, 0.7)) })
}

// lazyPool starts a worker only when a job finds every worker busy, up to cap.
type lazyPool struct {
	e       *env
	cap     int
	workers int // only touched by the submitting goroutine
	jobs    chan float64
}

func (p *lazyPool) submit(d float64) {
	// Early on, only part of the traffic reaches the pool (the cache in front of it is cold
	// and answers most of it... until it doesn't): the share ramps to 100% at minute 10.
	if p.e.float() > min(1, p.e.now()/10) {
		return
	}
	select {
	case p.jobs <- d:
	default:
		if p.workers < p.cap {
			p.workers++
			go p.worker(d)
		} // else: shed the job, the pool is at its cap
	}
}

func (p *lazyPool) worker(first float64) {
	time.Sleep(p.e.mins(first))
	for d := range p.jobs {
		time.Sleep(p.e.mins(d))
	}
}
