package main

import "time"

// step-leak: a leak that comes in bursts.
//
// Every 15 program minutes the service "reloads its config" and starts a new set of 40
// watchers, dropping the old set without stopping it. A watcher waits in a `select` on its
// updates and resync channels, with no ctx or stop case; once dropped, nobody will ever send
// on those channels, so the 40 old watchers wait forever. The total is flat between reloads
// and steps up by 40 at each one. The dropped channels are unreachable, so the goroutineleak
// profile reports the stuck watchers.
// Fix: give watchers a ctx (or stop channel) and cancel the old set on reload.
func init() {
	register("step-leak", scenario{
		help: "leak: every 15 min 40 watchers stuck in select with no ctx case",
		run:  runStepLeak,
	})
}

func runStepLeak(e *env) {
	var current []*watcher
	reload := func() { current = startWatchers(40) }
	reload()
	tick := time.NewTicker(e.minute)
	defer tick.Stop()
	next := 15.0
	for range tick.C {
		if e.now() >= next-0.01 {
			reload() // the bug: the previous set is never stopped
			next += 15
		}
		for _, w := range current { // the live set gets updates once a minute
			w.notify()
		}
	}
}

type watcher struct {
	updates chan string
	resync  chan struct{}
}

func startWatchers(n int) []*watcher {
	ws := make([]*watcher, n)
	for i := range ws {
		ws[i] = &watcher{updates: make(chan string), resync: make(chan struct{})}
		go ws[i].run()
	}
	return ws
}

func (w *watcher) notify() {
	select {
	case w.updates <- "config changed":
	default: // busy: skip, the next tick will catch up
	}
}

func (w *watcher) run() {
	applied := 0
	for {
		select { // no ctx.Done() case: there is no way to stop this loop
		case <-w.updates:
			applied++
		case <-w.resync:
			applied = 0
		}
	}
}
