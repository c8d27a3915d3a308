package main

import (
	"log"
	"net/http"
)

// body-not-closed: the shared client is used, but pingInventory only looks at the status code
// and never closes resp.Body (~3 calls per program minute). The connection can't go back to the
// pool until the body is read or closed, so each call leaves the client's persistConn.readLoop
// parked in select (waiting for the body to be consumed) and its persistConn.writeLoop, plus
// the backend server's conn.serve on that connection. The shared Transport dials a new
// connection for the next call. No request deadline either, so nothing ever cancels them.
// Fix: `defer resp.Body.Close()` on every path (and drain the body).
func init() {
	register("body-not-closed", scenario{
		help: "leak: resp.Body never closed on the shared client, ~3 req/min -> readLoop(select)+writeLoop",
		run:  runBodyNotClosed,
	})
}

func runBodyNotClosed(e *env) {
	e.every(3, func() {
		if ok, err := pingInventory(e.client, e.base+"/api/item"); err != nil || !ok {
			log.Printf("pingInventory: ok=%v err=%v", ok, err)
		}
	})
}

func pingInventory(client *http.Client, url string) (bool, error) {
	resp, err := client.Get(url)
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil // the bug: resp.Body is never closed
}
