// libscenarios runs one Go service shape built on real libraries — grpc-go, database/sql with
// lib/pq (PostgreSQL) and go-sql-driver/mysql (MariaDB), x/sync/errgroup — leaking or healthy,
// and serves net/http/pprof plus /healthz on -listen. Built in GOPATH mode against Debian's Go
// library packages (/usr/share/gocode), so it has no go.mod (tests/gobuild.py: build_gopath).
//
// Timing is in program minutes of length -minute (time dilation, as the `scenarios` program):
//
//	libscenarios -scenario sql-tx-open -pg 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' -minute 1s
//
// The first stdout line is "listening on HOST:PORT".
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
	"time"
)

type scenario struct {
	help string
	db   string // "", "postgres" or "mysql": which -pg / -mysql DSN the scenario needs
	run  func(e *env)
}

var scenarios = map[string]scenario{}

func register(name string, s scenario) { scenarios[name] = s }

func main() {
	name := flag.String("scenario", "", "scenario to run (-list shows them)")
	listen := flag.String("listen", "127.0.0.1:6060", "address for /debug/pprof and /healthz")
	minute := flag.Duration("minute", time.Minute, "length of one program minute (time dilation)")
	seed := flag.Uint64("seed", 1, "random seed")
	pg := flag.String("pg", "", "lib/pq DSN of a PostgreSQL server")
	my := flag.String("mysql", "", "go-sql-driver/mysql DSN of a MariaDB/MySQL server")
	driver := flag.String("driver", "", "for scenarios that run on either database: postgres or mysql")
	list := flag.Bool("list", false, "list the scenarios and exit")
	flag.Parse()

	if *list {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%-26s %-9s %s\n", n, scenarios[n].db, scenarios[n].help)
		}
		return
	}
	sc, ok := scenarios[*name]
	if !ok {
		log.Fatalf("unknown -scenario %q (use -list)", *name)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	e := newEnv(*minute, *seed)
	db := sc.db
	if db == "either" {
		db = *driver
	}
	switch db {
	case "postgres":
		e.openDB("postgres", *pg)
	case "mysql":
		e.openDB("mysql", *my)
	case "":
	default:
		log.Fatalf("scenario %s needs -driver postgres|mysql", *name)
	}
	startBackground(e)
	go sc.run(e)

	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	log.Printf("scenario %s: minute=%s seed=%d db=%s grpc=%s", *name, *minute, *seed, db, e.grpcAddr)
	log.Fatal((&http.Server{Handler: adminMux(), ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}

func adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}
