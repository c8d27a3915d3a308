package main

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// chan-send-after-timeout: the backend's /api/price handler starts a worker goroutine that
// computes the price and sends it on an UNBUFFERED channel, while the handler waits with a
// short timeout. When the computation is slow (one in ten of ~20 calls per program minute), the
// handler gives up and returns 504; the worker then blocks in `chan send` forever, because
// nobody will ever receive. ~2 goroutines per program minute. The channel is reachable only
// from the blocked worker, so the goroutineleak profile reports them too.
// Fix: make the channel buffered (size 1), or select on r.Context().Done() in the worker.
func init() {
	register("chan-send-after-timeout", scenario{
		help: "leak: worker blocked in chan send after the caller timed out, ~2/min",
		run:  runChanSendAfterTimeout,
	})
}

func runChanSendAfterTimeout(e *env) {
	e.mux.HandleFunc("/api/price", func(w http.ResponseWriter, r *http.Request) {
		handlePrice(e, w, r)
	})
	e.every(20, func() {
		_ = getItem(e, e.base+"/api/price") // a 504 now and then is the point
	})
}

type quote struct{ cents int }

func handlePrice(e *env, w http.ResponseWriter, _ *http.Request) {
	result := make(chan quote) // the bug: unbuffered, and the sender can't see the caller leave
	go func() {
		result <- computePrice(e)
	}()
	select {
	case q := <-result:
		fmt.Fprintf(w, `{"cents":%d}`, q.cents)
	case <-time.After(e.mins(0.02)):
		w.WriteHeader(http.StatusGatewayTimeout)
		io.WriteString(w, "price lookup timed out\n")
	}
}

var priceCalls atomic.Int64

// computePrice is fast, except for every tenth call, which hits a slow path (a cold cache).
func computePrice(e *env) quote {
	d := e.mins(0.002)
	if priceCalls.Add(1)%10 == 0 {
		d = e.mins(0.05)
	}
	time.Sleep(d)
	return quote{cents: 1999}
}
