package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// client-no-timeout: a shared http.Client with no Timeout calls a flaky upstream that sometimes
// accepts a request and never answers. Each hung call leaves three goroutines for good: the
// caller in persistConn.roundTrip (under main.refreshPrice, started per price update), and its
// connection's readLoop (IO wait, waiting for the response) and writeLoop, in lockstep.
// The upstream holds those connections without a goroutine (they sit in a slice), so the leak
// is all client side. ~30 calls per program minute, 1 in 10 hangs: ~3 stuck calls a minute.
// Fix: http.Client{Timeout: ...}, or a context deadline on every request.
func init() {
	register("client-no-timeout", scenario{
		help: "leak: shared client without Timeout, upstream never answers 1 in 10 -> roundTrip+readLoop+writeLoop",
		run:  runClientNoTimeout,
	})
}

var priceClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}} // the bug: no Timeout

func runClientNoTimeout(e *env) {
	ln, err := net.Listen("tcp", net.JoinHostPort(e.host, "0"))
	if err != nil {
		log.Fatal(err)
	}
	go serveFlaky(ln)
	url := "http://" + ln.Addr().String() + "/price"
	e.every(30, func() { go refreshPrice(url) })
}

func refreshPrice(url string) {
	resp, err := priceClient.Get(url)
	if err != nil {
		log.Printf("refreshPrice: %v", err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
}

var (
	heldMu sync.Mutex
	held   []net.Conn // accepted, never answered, never closed
	calls  atomic.Int64
)

// serveFlaky is a minimal HTTP/1.1 upstream: it answers, except every tenth request, whose
// connection it keeps open and silent.
func serveFlaky(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go answerFlaky(conn)
	}
}

func answerFlaky(conn net.Conn) {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			conn.Close()
			return
		}
		io.Copy(io.Discard, req.Body)
		if calls.Add(1)%10 == 0 {
			heldMu.Lock()
			held = append(held, conn) // the upstream's bug: accepted, never answered
			heldMu.Unlock()
			return
		}
		body := `{"cents":1999}`
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s", len(body), body)
	}
}
