package main

// load-ramp (healthy, and the hard one): traffic ramps up. In-flight requests (server handlers
// waiting on a simulated backend) go from ~20 to ~400 over 40 program minutes, then plateau.
// Every request-related group grows in proportion for 40 minutes, exactly like a leak would,
// then stops. Every trend test flags the ramp; the defence is that all groups under the same
// request root grow together (growth follows load), and that the floor stops rising.
func init() {
	register("load-ramp", scenario{
		help: "healthy: in-flight requests ramp 20->400 over 40 min, then plateau",
		run:  runLoadRamp,
	})
}

func runLoadRamp(e *env) {
	load := newLoadGen(e, 0.3, 1.0)
	e.track(func(t float64) float64 { return 20 + 380*min(1, t/40) }, load.set)
}
