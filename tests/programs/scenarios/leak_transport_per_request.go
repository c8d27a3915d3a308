package main

import (
	"io"
	"log"
	"net/http"
)

// transport-per-request: THE classic HTTP client leak.
//
// fetchQuote builds a new Client with its own Transport for every call (~3 per program minute).
// The body is read and closed, so the connection goes back to *that* Transport's idle pool; a
// hand-built Transport has IdleConnTimeout 0, so it is never closed, and nobody will use that
// Transport again. Each call leaves three goroutines forever: the client's
// persistConn.readLoop (IO wait under bufio.Reader.Peek) and persistConn.writeLoop, and the
// backend server's conn.serve waiting for the next request on a keep-alive connection.
// Fix: share one Client (e.client), or call CloseIdleConnections / set IdleConnTimeout.
func init() {
	register("transport-per-request", scenario{
		help: "leak: new http.Transport per request, ~3 req/min -> readLoop+writeLoop+conn.serve",
		run:  runTransportPerRequest,
	})
}

func runTransportPerRequest(e *env) {
	e.every(3*e.leakRate, func() {
		if err := fetchQuote(e.base + "/api/item"); err != nil {
			log.Printf("fetchQuote: %v", err)
		}
	})
}

func fetchQuote(url string) error {
	client := &http.Client{Transport: &http.Transport{}} // the bug: one Transport per call
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
