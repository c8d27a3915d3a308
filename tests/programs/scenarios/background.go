package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The background every scenario runs, so profiles hold many healthy groups besides the culprit:
//   - an internal backend HTTP server (keep-alive, no idle timeout: Go's defaults) on its own port;
//   - four traffic loops calling it through the ONE shared client;
//   - a pool of 32 workers parked on a job channel, fed ~600 jobs per program minute, each job
//     making short-lived garbage (the allocation churn that keeps the GC cycling);
//   - a stats ticker.

const (
	backgroundWorkers = 32
	jobsPerMinute     = 600
	trafficLoops      = 4
)

// itemBody is what /api/item answers: big enough that a client must read it to finish.
var itemBody = strings.Repeat(`{"sku":"A-1042","price":1999,"stock":17}`+"\n", 16)

func startBackground(e *env, churnMiB float64) {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/item", handleItem)
	mux.HandleFunc("/api/slow", handleSlow)
	e.mux = mux

	ln, err := net.Listen("tcp", net.JoinHostPort(e.host, "0"))
	if err != nil {
		log.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	go serveBackend(ln, mux)

	jobs := make(chan int)
	for range backgroundWorkers {
		go jobWorker(jobs, int(churnMiB*(1<<20)/jobsPerMinute))
	}
	go e.every(jobsPerMinute, func() { jobs <- 1 })
	for range trafficLoops {
		go trafficLoop(e)
	}
	go reportStats(e)
}

// serveBackend is the internal server: Go's defaults, so keep-alive connections never time out.
func serveBackend(ln net.Listener, h http.Handler) {
	log.Fatal(http.Serve(ln, h))
}

func handleItem(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, itemBody)
}

// handleSlow answers after ?ms= milliseconds, as a handler waiting on its own backend does.
func handleSlow(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	if simulatedBackend(r.Context(), time.Duration(ms)*time.Millisecond) {
		io.WriteString(w, itemBody)
	}
}

// simulatedBackend waits as a handler waits on a database or another service. false: cancelled.
func simulatedBackend(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func jobWorker(jobs <-chan int, scratch int) {
	for range jobs {
		renderReport(scratch)
	}
}

var sink byte

// renderReport builds a throw-away buffer, as request handling does all the time.
func renderReport(n int) {
	buf := make([]byte, n)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i)
	}
	if n > 0 {
		sink ^= buf[n/2]
	}
}

// trafficLoop is a steady caller of the backend: the shared client, body read and closed.
func trafficLoop(e *env) {
	for {
		time.Sleep(e.jittered(0.05))
		if err := getItem(e, e.base+"/api/item"); err != nil {
			log.Printf("traffic: %v", err)
		}
	}
}

func getItem(e *env, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.mins(5))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

var goroutines atomic.Int64 // what a /metrics endpoint would export

func reportStats(e *env) {
	tick := time.NewTicker(e.minute)
	defer tick.Stop()
	for range tick.C {
		goroutines.Store(int64(runtime.NumGoroutine()))
	}
}
