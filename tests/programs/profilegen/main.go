// Command profilegen parks goroutines in known states and writes Go's own pprof output, so the
// Python parsers are tested against what the runtime really emits (tests/golden/profiles).
//
//	profilegen -out DIR [-minutes]        golden mode: one small group per wait state + a heap site
//	profilegen -gen N -stacks M -out DIR  benchmark mode: N goroutines over M distinct stacks
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Globals keep the blocking objects reachable where a real service would (mutexes, listeners).
var (
	mu       sync.Mutex
	rw       sync.RWMutex
	wg       sync.WaitGroup
	condMu   sync.Mutex
	cond     = sync.NewCond(&condMu)
	forever  = make(chan int) // never closed, never sent on
	retained [][]byte
	keep     []any // conns, transports: referenced so nothing is collected
)

func main() {
	// Sample every allocation of 64 KiB or more with certainty, so heap values are exact.
	runtime.MemProfileRate = 64 << 10
	out := flag.String("out", ".", "output directory")
	gen := flag.Int("gen", 0, "benchmark mode: number of goroutines")
	stacks := flag.Int("stacks", 20, "benchmark mode: number of distinct stacks")
	minutes := flag.Bool("minutes", false, "wait 61 s so debug=2 reports wait minutes")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if *gen > 0 {
		startGen(*gen, *stacks)
		settle(*gen + 1)
		write(*out, "goroutine", 0, "goroutine.pb.gz")
		write(*out, "goroutine", 1, "goroutine.txt")
		return
	}
	startAll()
	allocSite()
	runtime.GC() // records when each parked goroutine was first seen blocked (waitsince)
	if *minutes {
		time.Sleep(61 * time.Second)
	}
	runtime.GC()
	runtime.GC() // the heap profile reflects the last completed GC cycle
	write(*out, "heap", 0, "heap.pb.gz")
	write(*out, "goroutine", 0, "goroutine.pb.gz")
	write(*out, "goroutine", 1, "goroutine.txt")
	write(*out, "goroutine", 2, "goroutine-dump.txt")
	write(*out, "goroutineleak", 0, "goroutineleak.pb.gz")
	write(*out, "goroutineleak", 1, "goroutineleak.txt")
}

func write(dir, name string, debug int, file string) {
	f, err := os.Create(filepath.Join(dir, file))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	p := pprof.Lookup(name)
	if p == nil {
		log.Fatalf("no profile %q", name)
	}
	if err := p.WriteTo(f, debug); err != nil {
		log.Fatal(err)
	}
}

// settle waits until at least n goroutines exist and have had time to park.
func settle(n int) {
	for runtime.NumGoroutine() < n {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
}

func startAll() {
	mu.Lock()
	rw.Lock()
	wg.Add(1)
	sendCh := make(chan int)
	spawn(3, func() { blockSend(sendCh) })
	labels := pprof.Labels("worker", "recv")
	spawn(4, func() { pprof.Do(context.Background(), labels, func(context.Context) { blockRecv() }) })
	spawn(1, blockRecvNil)
	spawn(5, blockSelect)
	spawn(2, blockSelectNoCases)
	spawn(6, blockMutex)
	spawn(2, blockRWMutexRead)
	spawn(7, blockWaitGroup)
	spawn(8, blockCond)
	spawn(9, blockSleep)
	spawn(1, blockLocked)
	startIOWait(2)
	startHTTPLeak(3)
	settle(3 + 4 + 1 + 5 + 2 + 6 + 2 + 7 + 8 + 9 + 1 + 2 + 3*3)
}

func spawn(n int, f func()) {
	for range n {
		go f()
	}
}

func blockSend(ch chan int) { ch <- 1 }

func blockRecv() { <-forever }

func blockRecvNil() {
	var ch chan int
	<-ch
}

func blockSelect() {
	a, b := make(chan int), make(chan int)
	select {
	case <-a:
	case <-b:
	}
}

func blockSelectNoCases() { select {} }

func blockMutex() { mu.Lock() }

func blockRWMutexRead() { rw.RLock() }

func blockWaitGroup() { wg.Wait() }

func blockCond() {
	condMu.Lock()
	cond.Wait()
}

func blockSleep() { time.Sleep(time.Hour) }

func blockLocked() {
	runtime.LockOSThread()
	<-forever
}

// startIOWait parks n goroutines in conn.Read on real loopback TCP connections nobody writes to.
func startIOWait(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	keep = append(keep, ln)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		keep = append(keep, c, s)
		go blockRead(c)
	}
}

func blockRead(c net.Conn) {
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
}

// startHTTPLeak makes n requests, each through a new Transport: the classic per-request client leak.
// Every idle keep-alive connection keeps a readLoop and a writeLoop (client) and a conn.serve (server).
func startHTTPLeak(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	keep = append(keep, srv)
	url := "http://" + ln.Addr().String() + "/"
	for range n {
		tr := &http.Transport{}
		keep = append(keep, tr)
		resp, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// allocSite retains 16 MiB in 1 MiB blocks: one heap site with known inuse values.
//
//go:noinline
func allocSite() {
	for range 16 {
		retained = append(retained, make([]byte, 1<<20))
	}
}

// startGen spawns n goroutines over `stacks` distinct stacks: goroutine i recurses through
// genA/genB chosen by the bits of i%stacks, so each residue has its own call path.
func startGen(n, stacks int) {
	levels := 1
	for 1<<levels < stacks {
		levels++
	}
	for i := range n {
		go genA(i%stacks, levels)
	}
}

// genA and genB are twins: which one is on the stack at each level spells out the index bits.
// Each recurses directly (one frame per level, like the brief's 12 levels → 4096 stacks).
func genA(idx, level int) {
	if level == 0 {
		<-forever
		return
	}
	if idx>>(level-1)&1 == 1 {
		genA(idx, level-1)
	} else {
		genB(idx, level-1)
	}
}

func genB(idx, level int) {
	if level == 0 {
		<-forever
		return
	}
	if idx>>(level-1)&1 == 1 {
		genA(idx, level-1)
	} else {
		genB(idx, level-1)
	}
}
