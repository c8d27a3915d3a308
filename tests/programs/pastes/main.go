// Command pastes makes the goroutine dumps people paste from incidents, for the pasted-dump golden
// tests (tests/golden/pasted, make_pasted.py --regenerate):
//
//	pastes -mode sigquit              parks goroutines, prints "ready", waits for SIGQUIT (the runtime's dump)
//	pastes -mode deadlock-rows        closes a sql.Conn whose Rows are never closed: "all goroutines are asleep"
//	pastes -mode notifyctx -n N -out DIR
//	                                  N signal.NotifyContext calls whose stop is never called, then writes
//	                                  DIR/goroutine.txt (debug=1) and DIR/goroutine-dump.txt (debug=2)
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var (
	mu      sync.Mutex
	forever = make(chan int)
	keep    []any
)

func main() {
	mode := flag.String("mode", "", "sigquit | deadlock-rows | notifyctx")
	n := flag.Int("n", 40, "notifyctx: contexts leaked")
	out := flag.String("out", ".", "notifyctx: output directory")
	flag.Parse()
	switch *mode {
	case "sigquit":
		sigquit()
	case "deadlock-rows":
		deadlockRows()
	case "notifyctx":
		notifyCtx(*n, *out)
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

func sigquit() {
	mu.Lock()
	ch := make(chan int)
	spawn(3, func() { blockSend(ch) })
	spawn(4, blockRecv)
	spawn(5, blockSelect)
	spawn(6, blockMutex)
	spawn(2, blockSleep) // a timer pending: the runtime does not call this a deadlock
	settle(1 + 3 + 4 + 5 + 6 + 2)
	fmt.Println("ready")
	<-forever // SIGQUIT ends it, with every goroutine's stack on stderr
}

func spawn(n int, f func()) {
	for range n {
		go f()
	}
}

func settle(n int) {
	for runtime.NumGoroutine() < n {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
}

func blockSend(ch chan int) { ch <- 1 }

func blockRecv() { <-forever }

func blockSelect() {
	a, b := make(chan int), make(chan int)
	select {
	case <-a:
	case <-b:
	}
}

func blockMutex() { mu.Lock() }

func blockSleep() { time.Sleep(time.Hour) }

// deadlockRows: the DB is opened once (one connectionOpener goroutine, as every *sql.DB has), a
// query's Rows are never closed, and closing the Conn waits for them: nothing can run again.
func deadlockRows() {
	db := sql.OpenDB(connector{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT id FROM orders")
	if err != nil {
		log.Fatal(err)
	}
	keep = append(keep, rows) // never rows.Close()
	listOrders(conn)
}

//go:noinline
func listOrders(conn *sql.Conn) {
	_ = conn.Close() // waits for the open Rows: all goroutines are asleep
}

// A driver with one table of three rows: enough for database/sql to hand out Rows.
type connector struct{}

func (connector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (connector) Driver() driver.Driver                        { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return fakeConn{}, nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return fakeStmt{}, nil }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, fmt.Errorf("no transactions") }

type fakeStmt struct{}

func (fakeStmt) Close() error                               { return nil }
func (fakeStmt) NumInput() int                              { return 0 }
func (fakeStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(0), nil }
func (fakeStmt) Query([]driver.Value) (driver.Rows, error)  { return &fakeRows{}, nil }

type fakeRows struct{ i int }

func (*fakeRows) Columns() []string { return []string{"id"} }
func (*fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.i >= 3 {
		return io.EOF
	}
	r.i++
	dest[0] = int64(r.i)
	return nil
}

// notifyCtx: a handler-like function derives a context per call with signal.NotifyContext and
// never calls stop: os/signal's own goroutine waits in its select for the signal or ctx.Done().
func notifyCtx(n int, out string) {
	for range n {
		handleRequest()
	}
	settle(n + 1)
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(out, "goroutine.txt"), 1)
	write(filepath.Join(out, "goroutine-dump.txt"), 2)
}

//go:noinline
func handleRequest() {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt) //nolint:govet // the leak
	keep = append(keep, ctx)
}

func write(path string, debug int) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
		log.Fatal(err)
	}
}
