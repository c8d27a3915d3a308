package main

import "time"

// steady-pool (healthy): a big, fixed pool of 2,000 workers parked on a job channel, fed a
// steady ~2,000 jobs per program minute. At any instant a few dozen are busy (waiting on a
// simulated backend), the rest wait in `chan receive`: a large, flat goroutine count with
// small noise. Must never look like a leak.
func init() {
	register("steady-pool", scenario{
		help: "healthy: 2,000 workers on a job channel, steady job flow",
		run:  runSteadyPool,
	})
}

func runSteadyPool(e *env) {
	jobs := make(chan float64, 64)
	for range 2000 {
		go poolWorker(e, jobs)
	}
	e.every(2000, func() { jobs <- e.uniform(0.01, 0.05) })
}

// poolWorker handles one job at a time: wait on the backend for the job's program minutes.
func poolWorker(e *env, jobs <-chan float64) {
	for d := range jobs {
		time.Sleep(e.mins(d))
	}
}
