package main

import (
	"math"
	"time"
)

// dispatcher-ramp (healthy): load that is not net/http. The service's own dispatcher pulls work
// from an in-memory source and runs each item in `go d.handle(job)`. A handler throttles
// (time.Sleep), waits for its backend's reply on a channel (chan receive) and then for a
// commit window (select on a timer). Arrivals ramp from 30 to 600 per program minute over 60
// minutes, then hold: every state of d.handle grows together for an hour, then stays flat.
// There is no ServeHTTP or gRPC frame anywhere: load can only be told apart by structure.
func init() {
	register("dispatcher-ramp", scenario{
		help: "healthy: own dispatcher, go d.handle(job), arrivals ramp 30->600/min over 60 min",
		run:  runDispatcherRamp,
	})
}

type dispatcher struct{ e *env }

type job struct {
	id    int
	reply chan int
}

func runDispatcherRamp(e *env) {
	d := &dispatcher{e: e}
	d.run(func(t float64) float64 { return 30 + 570*min(1, t/60) })
}

// run starts a Poisson-like number of handlers every tenth of a program minute.
func (d *dispatcher) run(rate func(t float64) float64) {
	id := 0
	for {
		n := poisson(d.e, rate(d.e.now())*0.1)
		for range n {
			id++
			go d.handle(job{id: id, reply: make(chan int, 1)})
		}
		time.Sleep(d.e.mins(0.1))
	}
}

func (d *dispatcher) handle(j job) {
	time.Sleep(d.e.mins(d.e.uniform(0.05, 0.5))) // rate limiter slot
	d.callBackend(j)
	<-j.reply
	commit := time.NewTimer(d.e.mins(d.e.uniform(0.05, 0.3)))
	select { // the commit window: flushed by a timer
	case <-commit.C:
	}
}

// callBackend answers on j.reply after a backend latency, without a goroutine of its own.
func (d *dispatcher) callBackend(j job) {
	time.AfterFunc(d.e.mins(d.e.uniform(0.1, 0.8)), func() { j.reply <- j.id })
}

// poisson draws a Poisson count with the given mean (Knuth; means here are small).
func poisson(e *env, mean float64) int {
	if mean > 30 { // normal approximation for big means
		return max(0, int(math.Round(mean+math.Sqrt(mean)*(e.float()+e.float()+e.float()-1.5)*2)))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= e.float()
		if p <= l {
			return k
		}
		k++
	}
}
