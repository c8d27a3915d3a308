package main

import (
	"sync"
	"time"
)

// heap-sawtooth (healthy): a report cache fills with ~2 MiB per program minute and is cleared
// every 20 minutes. inuse_space at main.(*reportCache).add climbs to ~40 MiB and drops to 0,
// over and over: bounded, not a leak. Ordinary allocation churn keeps the GC cycling.
func init() {
	register("heap-sawtooth", scenario{
		help:  "healthy: cache filling ~2 MiB/min, cleared every 20 min",
		churn: 128,
		run:   runHeapSawtooth,
	})
}

func runHeapSawtooth(e *env) {
	go e.every(64, func() { reports.add(32 << 10) })
	tick := time.NewTicker(e.minute)
	defer tick.Stop()
	next := 20.0
	for range tick.C {
		if e.now() >= next-0.01 {
			reports.clear()
			next += 20
		}
	}
}

type reportCache struct {
	mu   sync.Mutex
	rows [][]byte
}

var reports = &reportCache{}

func (c *reportCache) add(size int) {
	row := make([]byte, size)
	for i := 0; i < size; i += 512 {
		row[i] = byte(i)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows = append(c.rows, row)
}

func (c *reportCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows = nil
}
