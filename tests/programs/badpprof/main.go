// badpprof serves /debug/pprof/* the way broken or hostile targets do, so the operator's handling
// of bad input can be tested against a real HTTP server:
//
//	-mode notfound  404 for every profile (pprof not registered)
//	-mode forbidden 403 (an auth middleware in front of pprof)
//	-mode error     500
//	-mode slow      200, then one byte every -period (1s), forever (until the client gives up)
//	-mode huge      200 with an endless body of zeros
//	-mode garbage   200 with bytes that are not a profile
//	-mode file      200 with the bytes of -file (say, a valid profile of 120k distinct stacks);
//	                /debug/pprof/heap with those of -heap-file, if given
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	mode := flag.String("mode", "notfound", "notfound|forbidden|error|slow|huge|garbage|file")
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve on")
	file := flag.String("file", "", "with -mode file: the body to serve")
	heapFile := flag.String("heap-file", "", "with -mode file: the body of /debug/pprof/heap")
	flag.DurationVar(&period, "period", time.Second, "with -mode slow: the wait between two bytes")
	flag.Parse()
	if *mode == "file" {
		fileBody = mustRead(*file)
		heapBody = fileBody
		if *heapFile != "" {
			heapBody = mustRead(*heapFile)
		}
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			w.Write([]byte("ok\n"))
			return
		}
		serve(*mode, w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

var (
	fileBody, heapBody []byte
	period             time.Duration
)

func mustRead(path string) []byte {
	body, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return body
}

func serve(mode string, w http.ResponseWriter, r *http.Request) {
	switch mode {
	case "forbidden":
		http.Error(w, "forbidden", http.StatusForbidden)
	case "error":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "slow":
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			w.Write([]byte{0})
			w.(http.Flusher).Flush()
			time.Sleep(period)
		}
	case "huge":
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 1<<20)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case "file":
		if r.URL.Path == "/debug/pprof/heap" {
			w.Write(heapBody)
			return
		}
		w.Write(fileBody)
	case "garbage":
		w.Write([]byte("<html>this is a login page, not a profile</html>"))
	default:
		http.NotFound(w, r)
	}
}
