// hello-pprof is the smallest pod the sandbox runs: it serves net/http/pprof and a hello page on -listen.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/* on http.DefaultServeMux
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve pprof and / on")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (pid %d)\n", *listen, os.Getpid())
	})
	log.Printf("hello-pprof listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
