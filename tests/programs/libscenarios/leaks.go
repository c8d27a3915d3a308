package main

import (
	"context"
	"errors"
	"log"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	register("grpc-client-stream-open", scenario{
		help: "leak: a client reads the first message of a server stream and returns: neither drained nor cancelled (~3/min)",
		run:  grpcClientStreamOpen,
	})
	register("sql-tx-open", scenario{
		help: "leak: a transaction is neither committed nor rolled back on an error path (~2/min): (*Tx).awaitDone piles up",
		db:   "postgres", run: sqlTxOpen,
	})
	register("sql-rows-not-closed", scenario{
		help: "leak: rows not closed on an early return (~2.7/min) exhaust the pool (32), then callers pile in (*DB).conn",
		db:   "mysql", run: sqlRowsNotClosed,
	})
	register("grpc-handler-stuck-share", scenario{
		help: "leak: 1 backend request in 150 is lost; the stream handler waits without its context (load ramps 20 -> 150)",
		run:  grpcHandlerStuckShare,
	})
	register("ctx-never-cancelled-heap", scenario{
		help: "heap leak: request contexts derived from the app's long-lived context, never cancelled (4 call sites)",
		run:  ctxNeverCancelledHeap,
	})
	register("heap-leak-diurnal", scenario{
		help: "heap leak: a ~1.5 KB pending-charge record per request is not removed on the decline path (~35%); load a sine of period 40",
		run:  heapLeakDiurnal,
	})
}

// latestPrice wants the current price only: it takes the first message of a Watch stream and
// returns, without CloseSend+drain and without a cancel — the stream's goroutine stays.
func latestPrice(e *env) ([]byte, error) {
	cs, err := e.cc.NewStream(context.Background(), &pricesDesc.Streams[0], "/prices.Prices/Watch")
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(encodeReq(2, e.mins(0.02))); err != nil {
		return nil, err
	}
	var q frame
	if err := cs.RecvMsg(&q); err != nil {
		return nil, err
	}
	return q.b, nil
}

func grpcClientStreamOpen(e *env) {
	go e.callers(func(float64) float64 { return 12 }, func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.mins(5))
		defer cancel()
		if err := e.watch(ctx, 2, e.mins(e.uniform(0.1, 0.3))); err != nil {
			log.Printf("watch: %v", err)
		}
	})
	e.every(3, func() {
		if _, err := latestPrice(e); err != nil {
			log.Printf("latest price: %v", err)
		}
	})
}

var errInsufficient = errors.New("insufficient funds")

// transfer forgets the rollback when validation fails: the Tx keeps its connection and its
// awaitDone goroutine (the context never ends) forever.
func transfer(e *env, amount float64) error {
	tx, err := e.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if _, err := tx.Exec("SELECT pg_sleep($1)", e.mins(e.uniform(0.01, 0.05)).Seconds()); err != nil {
		tx.Rollback()
		return err
	}
	if amount < 0.07 {
		return errInsufficient // BUG: no tx.Rollback()
	}
	return tx.Commit()
}

func sqlTxOpen(e *env) {
	e.db.SetMaxOpenConns(0) // unbounded: the leak takes connections until PostgreSQL refuses
	e.every(30, func() {
		go func() {
			if err := transfer(e, e.float()); err != nil && !errors.Is(err, errInsufficient) {
				log.Printf("transfer: %v", err)
			}
		}()
	})
}

// listOrders returns early on the first row of a "priority" customer, leaving rows open:
// the connection is never returned to the pool.
func listOrders(e *env, priority bool) (int, error) {
	q, args := e.sleepSQL(e.mins(e.uniform(0.02, 0.1)))
	rows, err := e.db.Query(q, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
		if priority {
			return n, nil // BUG: rows.Close() not called
		}
	}
	return n, rows.Close()
}

func sqlRowsNotClosed(e *env) {
	e.every(40, func() {
		go func() {
			if _, err := listOrders(e, e.chance(1.0/15)); err != nil {
				log.Printf("orders: %v", err)
			}
		}()
	})
}

func grpcHandlerStuckShare(e *env) {
	e.prices.dropEvery = 150
	level := func(t float64) float64 { return ramp(t, 0, 30, 20, 150) }
	e.callers(level, func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.mins(3))
		defer cancel()
		if err := e.watch(ctx, 3, e.mins(e.uniform(0.2, 0.6))); err != nil && ctx.Err() == nil {
			log.Printf("watch: %v", err)
		}
	})
}

type ctxKey int

type requestInfo struct {
	id      int64
	user    string
	headers [24]string
	trace   [1024]byte
}

var appCtx, appCancel = context.WithCancel(context.Background())

func newInfo(e *env) *requestInfo {
	ri := &requestInfo{id: time.Now().UnixNano(), user: "u-1042"}
	for i := range ri.headers {
		ri.headers[i] = "x-header-value"
	}
	return ri
}

// Four request paths, each deriving its context from appCtx and dropping the cancel func: every
// child stays registered in appCtx, with its values, until the process exits.
func handleCheckout(e *env) error {
	ctx, _ := context.WithCancel(context.WithValue(appCtx, ctxKey(1), newInfo(e))) //nolint:govet
	return e.getQuote(ctx, e.mins(0.01))
}

func handleSearch(e *env) error {
	ctx, _ := context.WithTimeout(context.WithValue(appCtx, ctxKey(2), newInfo(e)), 1000*time.Hour) //nolint:govet
	return e.getQuote(ctx, e.mins(0.01))
}

func refreshToken(e *env) error {
	ctx, _ := context.WithCancel(appCtx) //nolint:govet
	ctx = context.WithValue(ctx, ctxKey(3), newInfo(e))
	return e.getQuote(ctx, e.mins(0.01))
}

func auditLog(e *env) error {
	ctx, _ := context.WithCancelCause(context.WithValue(appCtx, ctxKey(4), make([]byte, 3072))) //nolint:govet
	return e.getQuote(ctx, e.mins(0.01))
}

func ctxNeverCancelledHeap(e *env) {
	for _, path := range []func(*env) error{handleCheckout, handleSearch, refreshToken, auditLog} {
		go e.every(120, func() {
			go func() {
				if err := path(e); err != nil {
					log.Printf("request: %v", err)
				}
			}()
		})
	}
	select {}
}

// pendingCharge is what the payment handler tracks while a charge is in flight (~1.5 KB).
type pendingCharge struct {
	id       uint64
	started  time.Time
	account  string
	amount   float64
	headers  [16]string
	envelope [1152]byte // the signed request, kept for the audit trail
}

var pending = struct {
	sync.Mutex
	m map[uint64]*pendingCharge
}{m: map[uint64]*pendingCharge{}}

var (
	chargeIDs   atomic.Uint64
	errDeclined = errors.New("card declined")
)

// charge registers the request in pending and removes it on success only: a declined charge
// returns early and its record stays in the map for good.
func charge(e *env, id uint64) error {
	p := &pendingCharge{id: id, started: time.Now(), account: "acct-2291", amount: e.uniform(5, 500)}
	for i := range p.headers {
		p.headers[i] = "x-request-header"
	}
	p.envelope[0] = byte(id)
	pending.Lock()
	pending.m[id] = p
	pending.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), e.mins(2))
	defer cancel()
	if err := e.getQuote(ctx, e.mins(0.01)); err != nil { // the fraud check
		return err // BUG: the record stays
	}
	if e.chance(0.35) {
		return errDeclined // BUG: the record stays
	}
	pending.Lock()
	delete(pending.m, id)
	pending.Unlock()
	return nil
}

// The load follows the day: a sine of period 40 program minutes between 30% and 100% of the peak.
func diurnal(t float64) float64 { return 1500 * (0.65 + 0.35*math.Sin(2*math.Pi*t/40)) }

func heapLeakDiurnal(e *env) {
	e.everyRate(diurnal, func() {
		go func() {
			if err := charge(e, chargeIDs.Add(1)); err != nil && !errors.Is(err, errDeclined) {
				log.Printf("charge: %v", err)
			}
		}()
	})
}
