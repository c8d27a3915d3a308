package main

import (
	"container/list"
	"context"
	"fmt"
	"log"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

func init() {
	register("sql-pool-warmup", scenario{
		help: "healthy: gRPC handlers query through a database/sql pool that grows to MaxOpenConns (48) with morning traffic, shrinks on idle",
		db:   "either", run: sqlPoolWarmup,
	})
	register("lru-cache-plateau", scenario{
		help: "healthy: read-through LRU filled from (*Rows).Next, ~45 min of growth, then flat while evicting",
		db:   "postgres", run: lruCachePlateau,
	})
	register("ttl-cache-zipf", scenario{
		help: "healthy: read-through cache with a 35 min TTL, Zipf-like keys over 200k ids (~600/min): fills, then expiry balances misses",
		db:   "postgres", run: ttlCacheZipf,
	})
	register("grpc-streaming-load", scenario{
		help: "healthy: gRPC server streams in flight follow a load curve (ramp, plateau, sine)",
		run:  grpcStreamingLoad,
	})
	register("errgroup-fanout", scenario{
		help: "healthy: errgroup fan-outs of unary gRPC calls per request, plus a batch burst every 10 min",
		run:  errgroupFanout,
	})
}

// Morning traffic: 4 callers, ramping to 70 between minutes 10 and 50, held to 75, down to 6 by 90.
func morning(t float64) float64 {
	if t < 75 {
		return ramp(t, 10, 50, 4, 70)
	}
	return ramp(t, 75, 90, 70, 6)
}

// Morning traffic reaches the service as gRPC calls; each handler runs one query through the pool.
func sqlPoolWarmup(e *env) {
	e.db.SetMaxOpenConns(48)
	e.db.SetMaxIdleConns(48)
	e.db.SetConnMaxIdleTime(e.mins(8))
	e.callers(morning, func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.mins(5))
		defer cancel()
		var out frame
		req := encodeReq(1, e.mins(e.uniform(0.1, 0.5)))
		if err := e.cc.Invoke(ctx, "/prices.Prices/Lookup", req, &out); err != nil {
			log.Printf("lookup: %v", err)
			time.Sleep(e.mins(0.1))
			return
		}
		time.Sleep(e.jittered(0.05))
	})
}

// lruCache is a read-through cache of rendered rows, bounded by entry count.
type lruCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[int64]*list.Element
}

type lruEntry struct {
	key  int64
	body string
}

func (c *lruCache) get(k int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry).body, true
	}
	return "", false
}

func (c *lruCache) put(k int64, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry{key: k, body: body})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry).key)
	}
}

func lruCachePlateau(e *env) {
	c := &lruCache{max: 24000, order: list.New(), items: map[int64]*list.Element{}}
	// ~530 misses per program minute (53 pages of 10 rows): full after ~45 minutes. Each lookup is
	// a request of its own, so a slow query does not slow the others.
	e.every(53, func() { go lruLookup(e, c) })
}

func lruLookup(e *env, c *lruCache) {
	base := int64(e.uniform(0, 1e9)) / 10 * 10
	if _, ok := c.get(base); ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.mins(2))
	defer cancel()
	rows, err := e.db.QueryContext(ctx,
		"SELECT k, repeat(md5(k::text), 30) FROM generate_series($1::bigint, $1::bigint + 9) AS k", base)
	if err != nil {
		log.Printf("lru: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var body string
		if err := rows.Scan(&k, &body); err != nil {
			log.Printf("lru scan: %v", err)
			return
		}
		c.put(k, body)
	}
}

// zipfKeys draws ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s, by inverse CDF: the
// skew of web and API cache workloads (s 0.6-0.9 is what request logs measure), which
// math/rand/v2 has no generator for and math/rand's Zipf allows only for s > 1.
type zipfKeys struct{ cdf []float64 }

func newZipfKeys(n int, s float64) *zipfKeys {
	z := &zipfKeys{cdf: make([]float64, n)}
	sum := 0.0
	for k := range z.cdf {
		sum += math.Pow(float64(k+1), -s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipfKeys) rank(u float64) int { return min(sort.SearchFloat64s(z.cdf, u), len(z.cdf)-1) }

// ttlCache is a read-through cache of rendered rows whose entries expire a fixed time after they
// were filled; a sweeper drops the expired ones. Bounded by time, not by count.
type ttlCache struct {
	mu    sync.Mutex
	ttl   float64 // program minutes
	items map[int64]*ttlEntry
}

type ttlEntry struct {
	body    string
	expires float64 // program minute
}

func (c *ttlCache) get(k int64, now float64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.items[k]; ok && it.expires > now {
		return it.body, true
	}
	return "", false
}

func (c *ttlCache) put(k int64, body string, now float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[k] = &ttlEntry{body: body, expires: now + c.ttl}
}

func (c *ttlCache) sweep(now float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, it := range c.items {
		if it.expires <= now {
			delete(c.items, k)
		}
	}
}

const profileIDs = 200_000

func ttlCacheZipf(e *env) {
	c := &ttlCache{ttl: 35, items: map[int64]*ttlEntry{}}
	keys := newZipfKeys(profileIDs, 0.8)
	go func() {
		for {
			time.Sleep(e.mins(1))
			c.sweep(e.now())
		}
	}()
	// ~600 profile reads per program minute, each a request of its own. The hit rate climbs as the
	// popular ids get cached, and levels off once expiry takes out as many as misses put in.
	e.every(600, func() {
		// Popular ids are spread over the id space, not the lowest ones (a fixed permutation).
		id := int64(keys.rank(e.float())*7919%profileIDs + 1)
		go ttlLookup(e, c, id)
	})
}

func ttlLookup(e *env, c *ttlCache, id int64) {
	if _, ok := c.get(id, e.now()); ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.mins(2))
	defer cancel()
	var name, bio string
	var karma int64
	err := e.db.QueryRowContext(ctx,
		"SELECT 'user-' || $1::bigint, repeat(md5($1::text), 30), ($1::bigint * 37) % 1000", id).Scan(&name, &bio, &karma)
	if err != nil {
		log.Printf("ttl cache: %v", err)
		return
	}
	c.put(id, renderProfile(id, name, bio, karma), e.now())
}

// renderProfile is the row as the service serves it: a JSON document of ~1.1 KB.
func renderProfile(id int64, name, bio string, karma int64) string {
	return fmt.Sprintf(`{"id":%d,"name":%q,"karma":%d,"bio":%q,"links":{"self":"/v1/profiles/%d","avatar":"/v1/profiles/%d/avatar"}}`,
		id, name, karma, bio, id, id)
}

// Streams in flight: ramp 10 -> 160 over 40 min, plateau, then a sine of period 30 around 110.
func streamLoad(t float64) float64 {
	if t < 60 {
		return ramp(t, 5, 45, 10, 160)
	}
	return 110 + 50*math.Cos(2*math.Pi*(t-60)/30)
}

func grpcStreamingLoad(e *env) {
	e.callers(streamLoad, func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.mins(5))
		defer cancel()
		if err := e.watch(ctx, 3, e.mins(e.uniform(0.1, 0.4))); err != nil {
			log.Printf("watch: %v", err)
		}
	})
}

func errgroupFanout(e *env) {
	// Every 10 minutes a reindex fans out 400 lookups at once (an errgroup per batch).
	go func() {
		for {
			time.Sleep(e.mins(10))
			g, ctx := errgroup.WithContext(context.Background())
			for i := 0; i < 400; i++ {
				g.Go(func() error { return e.getQuote(ctx, e.mins(e.uniform(0.5, 3))) })
			}
			if err := g.Wait(); err != nil {
				log.Printf("reindex: %v", err)
			}
		}
	}()
	// Requests fan out to 8 lookups each; their rate follows a sine (period 30, 20..100/min).
	rate := func(t float64) float64 { return 60 + 40*math.Sin(2*math.Pi*t/30) }
	e.everyRate(rate, func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), e.mins(3))
			defer cancel()
			g, ctx := errgroup.WithContext(ctx)
			for i := 0; i < 8; i++ {
				g.Go(func() error { return e.getQuote(ctx, e.mins(e.uniform(0.2, 1))) })
			}
			if err := g.Wait(); err != nil {
				log.Printf("fanout: %v", err)
			}
		}()
	})
}
