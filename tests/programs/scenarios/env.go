package main

import (
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// env is what every scenario shares: the program clock, a seeded random source, the internal
// backend server's base URL and the one well-configured HTTP client the service normally uses.
type env struct {
	minute time.Duration
	start  time.Time
	host   string         // loopback IP for internal listeners
	base   string         // http://host:port of the internal backend server
	mux    *http.ServeMux // the backend server's routes; scenarios may add their own
	client *http.Client

	leakRate float64 // -leak-rate: the leak's own rate multiplier (1: as documented)

	mu  sync.Mutex
	rng *rand.Rand
}

func newEnv(minute time.Duration, seed uint64, host string) *env {
	return &env{
		minute: minute,
		start:  time.Now(),
		host:   host,
		rng:    rand.New(rand.NewPCG(seed, seed^0x5eed)),
		// The shared client, tuned as a real service would: a pool big enough for its
		// concurrency, idle connections closed after 5 program minutes.
		client: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        2048,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     5 * minute,
		}},
	}
}

// mins converts program minutes to a real duration.
func (e *env) mins(m float64) time.Duration { return time.Duration(m * float64(e.minute)) }

// now is the program time in minutes since start.
func (e *env) now() float64 { return float64(time.Since(e.start)) / float64(e.minute) }

func (e *env) float() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.Float64()
}

// uniform returns a random float in [lo, hi).
func (e *env) uniform(lo, hi float64) float64 { return lo + (hi-lo)*e.float() }

// jittered is a random wait around mean program minutes (±50%), so periodic events don't align.
func (e *env) jittered(mean float64) time.Duration { return e.mins(mean * e.uniform(0.5, 1.5)) }

// every calls fn about perMinute times per program minute, forever. The schedule is kept on
// its own clock, so the time fn takes (a request under load) doesn't lower the rate.
func (e *env) every(perMinute float64, fn func()) {
	next := time.Now()
	for {
		next = next.Add(e.jittered(1 / perMinute))
		time.Sleep(time.Until(next))
		fn()
	}
}

// track sets a level (e.g. a load generator's concurrency) from a function of program time,
// ten times per program minute.
func (e *env) track(level func(t float64) float64, set func(n int)) {
	for {
		set(int(math.Round(level(e.now()))))
		time.Sleep(e.mins(0.1))
	}
}
