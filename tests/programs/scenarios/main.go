// scenarios runs one realistic Go service shape (leaking or healthy) and serves net/http/pprof
// plus /healthz on -listen, so leakpatrol can be tested and demonstrated against real profiles.
//
// All timing is in program minutes of length -minute: `-minute 1s` runs an hour in a minute
// (time dilation), which is how tests/corpus was recorded.
//
//	scenarios -scenario transport-per-request -listen 127.0.1.7:6060 -minute 1s
//
// With a port of 0 the program picks a free one. Either way the first stdout line is
// "listening on HOST:PORT".
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"time"
)

// A scenario adds its own goroutines on top of the shared background (see background.go).
type scenario struct {
	help  string
	churn float64 // MiB of short-lived garbage per program minute made by the background jobs
	run   func(e *env)
}

var scenarios = map[string]scenario{}

func register(name string, s scenario) {
	if s.churn == 0 {
		s.churn = 32
	}
	scenarios[name] = s
}

func main() {
	name := flag.String("scenario", "", "scenario to run (-list shows them)")
	listen := flag.String("listen", "127.0.0.1:6060", "address for /debug/pprof and /healthz")
	minute := flag.Duration("minute", time.Minute, "length of one program minute (time dilation)")
	seed := flag.Uint64("seed", 1, "random seed")
	list := flag.Bool("list", false, "list the scenarios and exit")
	leakRate := flag.Float64("leak-rate", 1, "multiply the leak's rate (transport-per-request, heap-leak): "+
		"a pod with a small memory limit reaches it in seconds, not hours, without speeding up the rest")
	exitAfter := flag.Duration("exit-after", 0, "exit with status 1 after this long (a crash on a timer; 0: never)")
	flag.Parse()

	if *list {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%-24s %s\n", n, scenarios[n].help)
		}
		return
	}
	sc, ok := scenarios[*name]
	if !ok {
		log.Fatalf("unknown -scenario %q (use -list)", *name)
	}
	if *minute <= 0 {
		log.Fatal("-minute must be positive")
	}
	if *leakRate <= 0 {
		log.Fatal("-leak-rate must be positive")
	}
	if *exitAfter > 0 {
		time.AfterFunc(*exitAfter, func() {
			log.Fatalf("scenario %s: -exit-after %s: exiting with status 1 (a crash on a timer)", *name, *exitAfter)
		})
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	e := newEnv(*minute, *seed, internalHost(*listen))
	e.leakRate = *leakRate
	startBackground(e, sc.churn)
	if leaks(*name) {
		go sc.run(e)
	}

	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	log.Printf("scenario %s: minute=%s seed=%d internal=%s", *name, *minute, *seed, e.base)
	log.Fatal((&http.Server{Handler: adminMux(), ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}

// adminMux serves the profiles and a health check; nothing else runs on the public address.
func adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // goroutine, heap, goroutineleak, ... by name
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// internalHost is where the internal backend server listens: the same loopback IP as -listen,
// so a sandbox "pod" with its own 127.x.y.z address keeps all of its traffic on it.
func internalHost(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" || strings.EqualFold(host, "localhost") {
		return "127.0.0.1"
	}
	return host
}

// leaks says whether this process runs its scenario. With LEAK_ONCE_FILE set (say, in every
// replica of a Deployment) only the first process to create that file does; the others run the
// shared background alone, healthy: one replica of three leaks, as a pod with bad data would.
func leaks(name string) bool {
	path := os.Getenv("LEAK_ONCE_FILE")
	if path == "" {
		return true
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		log.Printf("scenario %s: %s already claimed by another replica: not leaking", name, path)
		return false
	}
	fmt.Fprintln(f, os.Getpid())
	f.Close()
	log.Printf("scenario %s: claimed %s: this replica leaks", name, path)
	return true
}
