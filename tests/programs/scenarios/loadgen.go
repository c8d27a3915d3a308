package main

import (
	"fmt"
	"log"
	"sync"
)

// loadGen keeps n requests in flight against the backend's /api/slow (a handler waiting on a
// simulated backend), through the shared client: closed-loop callers, one per unit of load.
// Each in-flight request shows up as a caller in roundTrip, a server handler in
// simulatedBackend and the server's backgroundRead; the client's connection pool follows the
// peak concurrency and shrinks after the idle timeout.
type loadGen struct {
	e              *env
	minLat, maxLat float64 // program minutes a request takes
	path           string  // if set, callers GET this path instead of /api/slow

	mu    sync.Mutex
	stops []chan struct{}
}

func newLoadGen(e *env, minLat, maxLat float64) *loadGen {
	return &loadGen{e: e, minLat: minLat, maxLat: maxLat}
}

// set changes the number of callers; removed callers finish their current request first.
func (g *loadGen) set(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.stops) < n {
		stop := make(chan struct{})
		g.stops = append(g.stops, stop)
		go g.caller(stop)
	}
	for len(g.stops) > max(n, 0) {
		last := len(g.stops) - 1
		close(g.stops[last])
		g.stops = g.stops[:last]
	}
}

func (g *loadGen) caller(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		url := g.e.base + g.path
		if g.path == "" {
			ms := g.e.mins(g.e.uniform(g.minLat, g.maxLat)).Milliseconds()
			url = fmt.Sprintf("%s/api/slow?ms=%d", g.e.base, ms)
		}
		if err := getItem(g.e, url); err != nil {
			log.Printf("load: %v", err)
		}
	}
}
