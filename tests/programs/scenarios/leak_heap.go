package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// heap-leak: memory, not goroutines.
//
// The backend's /api/login stores a 16 KiB session blob in a global sessionCache on each of
// ~96 logins per program minute, and nothing ever evicts (no TTL, no size bound): the cache
// retains ~1.5 MiB more each minute, forever. Goroutines stay flat. The allocation site is
// main.(*sessionCache).put; the heap profile's inuse_space there grows linearly. The GC keeps
// cycling from the service's ordinary allocation churn (256 MiB of garbage per minute).
// Fix: bound the cache (LRU / TTL) or delete sessions on logout.
func init() {
	register("heap-leak", scenario{
		help:  "leak: global session cache retaining ~1.5 MiB/min, goroutines flat",
		churn: 256,
		run:   runHeapLeak,
	})
}

func runHeapLeak(e *env) {
	e.mux.HandleFunc("/api/login", handleLogin)
	e.every(96*e.leakRate, func() { _ = getItem(e, e.base+"/api/login") })
}

type sessionCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

var (
	sessions  = &sessionCache{m: make(map[string][]byte)}
	sessionID atomic.Int64
)

func handleLogin(w http.ResponseWriter, _ *http.Request) {
	id := fmt.Sprintf("s-%d", sessionID.Add(1))
	blob := make([]byte, 16<<10) // the decoded session: claims, permissions, preferences
	for i := range blob {
		blob[i] = byte(i)
	}
	sessions.put(id, blob)
	fmt.Fprintf(w, `{"session":%q}`, id)
}

// put keeps a private copy of the session forever: the leak.
func (c *sessionCache) put(id string, data []byte) {
	own := make([]byte, len(data))
	copy(own, data)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[id] = own
}
