package main

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// stuck-handler-ramp: a leak hidden inside the request root while traffic ramps.
//
// The /api/order handler checks a rate limit (time.Sleep), hands the order to the fulfilment
// backend and waits for its reply on `<-reply` with no ctx case. The backend drops one order in
// 80 on an error path without replying (the bug), so that handler waits forever, in the very
// same `<-reply` stack as every healthy in-flight request. In-flight requests ramp from 20 to
// 250 over 30 program minutes, then hold: the stuck ones are ~2/min during the ramp, ~4/min
// after. Callers give up after 5 program minutes; the server handler never does.
// Fix: select on r.Context().Done() next to <-reply; reply on every backend path.
func init() {
	register("stuck-handler-ramp", scenario{
		help: "leak: 1 in 80 handlers waits forever on <-reply, in-flight ramps 20->250 over 30 min",
		run:  runStuckHandlerRamp,
	})
}

func runStuckHandlerRamp(e *env) {
	e.mux.HandleFunc("/api/order", func(w http.ResponseWriter, r *http.Request) { handleOrder(e, w, r) })
	load := newLoadGen(e, 0, 0) // latency comes from the handler itself
	load.path = "/api/order"
	e.track(func(t float64) float64 { return 20 + 230*min(1, t/30) }, load.set)
}

var orders atomic.Int64

func handleOrder(e *env, w http.ResponseWriter, _ *http.Request) {
	time.Sleep(e.mins(e.uniform(0.05, 0.3))) // rate limiter slot
	reply := make(chan string, 1)
	fulfil(e, reply)
	status := <-reply // the bug: no ctx case, and fulfil does not always answer
	io.WriteString(w, status)
}

// fulfil answers after a backend latency, except on its error path (1 in 80 orders).
func fulfil(e *env, reply chan<- string) {
	if orders.Add(1)%80 == 0 {
		return // error path: logged upstream, never replied
	}
	time.AfterFunc(e.mins(e.uniform(0.1, 0.6)), func() { reply <- "ok" })
}
