package main

import (
	"context"
	"log"
	"runtime"
	"sync/atomic"
	"time"
)

// The background every scenario runs, so profiles hold many healthy groups besides the culprit:
// the gRPC server and its one client connection with two unary traffic loops, a pool of 16 job
// workers making ~16 MiB of garbage per program minute, a stats ticker, and with a database two
// loops of short queries through the scenario's pool.

const (
	workers       = 16
	jobsPerMinute = 400
	churnMiB      = 16
)

func startBackground(e *env) {
	e.startGRPC()
	jobs := make(chan int)
	for range workers {
		go jobWorker(jobs, churnMiB*(1<<20)/jobsPerMinute)
	}
	go e.every(jobsPerMinute, func() { jobs <- 1 })
	for range 2 {
		go func() {
			for {
				time.Sleep(e.jittered(0.05))
				ctx, cancel := context.WithTimeout(context.Background(), e.mins(2))
				if err := e.getQuote(ctx, e.mins(0.02)); err != nil {
					log.Printf("background quote: %v", err)
				}
				cancel()
			}
		}()
	}
	if e.db != nil {
		for range 2 {
			go func() {
				for {
					time.Sleep(e.jittered(0.1))
					var one int
					if err := e.db.QueryRow("SELECT 1").Scan(&one); err != nil {
						log.Printf("background query: %v", err)
					}
				}
			}()
		}
	}
	go reportStats(e)
}

func jobWorker(jobs <-chan int, scratch int) {
	for range jobs {
		buf := make([]byte, scratch)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = byte(i)
		}
		sink ^= buf[len(buf)/2]
	}
}

var (
	sink       byte
	goroutines atomic.Int64
)

func reportStats(e *env) {
	tick := time.NewTicker(e.minute)
	defer tick.Stop()
	for range tick.C {
		goroutines.Store(int64(runtime.NumGoroutine()))
	}
}
