package main

import "math"

// periodic-load (healthy): daily-cycle-like traffic, compressed. In-flight requests follow a
// sine with a 30-minute period between 50 and 350. The shared client's connection pool
// follows with a lag (idle connections close after 5 minutes). Up, down, up: no leak.
func init() {
	register("periodic-load", scenario{
		help: "healthy: in-flight requests follow a sine, period 30 min, 50..350",
		run:  runPeriodicLoad,
	})
}

func runPeriodicLoad(e *env) {
	load := newLoadGen(e, 0.2, 0.8)
	e.track(func(t float64) float64 { return 200 - 150*math.Cos(2*math.Pi*t/30) }, load.set)
}
