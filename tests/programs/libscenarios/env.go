package main

import (
	"database/sql"
	"log"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"
	"google.golang.org/grpc"
)

// env is what every scenario shares: the program clock, a seeded random source, the gRPC
// server's address and one client connection to it, and the database pool if any.
type env struct {
	minute time.Duration
	start  time.Time

	grpcAddr string
	cc       *grpc.ClientConn
	prices   *pricesServer

	driver string // "postgres" or "mysql" when db is set
	db     *sql.DB

	mu  sync.Mutex
	rng *rand.Rand
}

func newEnv(minute time.Duration, seed uint64) *env {
	return &env{minute: minute, start: time.Now(), rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (e *env) openDB(driver, dsn string) {
	if dsn == "" {
		log.Fatalf("this scenario needs a %s DSN", driver)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		log.Fatal(err)
	}
	e.driver, e.db = driver, db
	// A service's usual pool settings; scenarios override what their shape needs.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(e.mins(10))
	for i := 0; ; i++ {
		if err = db.Ping(); err == nil {
			return
		}
		if i == 50 {
			log.Fatalf("%s: %v", driver, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sleepSQL is a query that the server answers after d: the caller waits in the driver's socket read.
func (e *env) sleepSQL(d time.Duration) (string, []any) {
	if e.driver == "mysql" {
		return "SELECT SLEEP(?)", []any{d.Seconds()}
	}
	return "SELECT pg_sleep($1)", []any{d.Seconds()}
}

func (e *env) mins(m float64) time.Duration { return time.Duration(m * float64(e.minute)) }

func (e *env) now() float64 { return float64(time.Since(e.start)) / float64(e.minute) }

func (e *env) float() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.Float64()
}

func (e *env) uniform(lo, hi float64) float64 { return lo + (hi-lo)*e.float() }

func (e *env) chance(p float64) bool { return e.float() < p }

func (e *env) jittered(mean float64) time.Duration { return e.mins(mean * e.uniform(0.5, 1.5)) }

// every calls fn about perMinute times per program minute, forever, on its own clock.
func (e *env) every(perMinute float64, fn func()) {
	next := time.Now()
	for {
		next = next.Add(e.jittered(1 / perMinute))
		time.Sleep(time.Until(next))
		fn()
	}
}

// everyRate is every with a rate that follows program time.
func (e *env) everyRate(perMinute func(t float64) float64, fn func()) {
	next := time.Now()
	for {
		r := math.Max(perMinute(e.now()), 0.01)
		next = next.Add(e.jittered(1 / r))
		time.Sleep(time.Until(next))
		fn()
	}
}

// callers keeps n closed-loop callers running body; n follows level(program time).
func (e *env) callers(level func(t float64) float64, body func()) {
	var stops []chan struct{}
	for {
		n := int(math.Round(level(e.now())))
		for len(stops) < n {
			stop := make(chan struct{})
			stops = append(stops, stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					body()
				}
			}()
		}
		for len(stops) > max(n, 0) {
			close(stops[len(stops)-1])
			stops = stops[:len(stops)-1]
		}
		time.Sleep(e.mins(0.1))
	}
}

// ramp goes from a to b between minutes t0 and t1, flat outside.
func ramp(t, t0, t1, a, b float64) float64 {
	switch {
	case t <= t0:
		return a
	case t >= t1:
		return b
	}
	return a + (b-a)*(t-t0)/(t1-t0)
}
