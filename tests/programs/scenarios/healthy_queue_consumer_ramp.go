package main

import (
	"fmt"
	"log"
	"time"
)

// queue-consumer-ramp (healthy): a queue consumer whose traffic ramps. The fetch loop takes
// messages off a broker channel and runs each in `go c.process(m)`: process decodes the message
// (time.Sleep stands for the work), calls a downstream service through the shared HTTP client
// (callers wait in persistConn.roundTrip, and the connection pool with its readLoop/writeLoop
// goroutines grows with concurrency), then waits for the acker to confirm its ack in the next
// batch (chan receive). Messages ramp from 20 to 400 per program minute over 45 minutes, then
// hold.
func init() {
	register("queue-consumer-ramp", scenario{
		help: "healthy: queue consumer, go c.process(m), messages ramp 20->400/min over 45 min",
		run:  runQueueConsumerRamp,
	})
}

type message struct {
	id    int
	acked chan struct{}
}

type consumer struct {
	e    *env
	acks chan message
}

func runQueueConsumerRamp(e *env) {
	broker := make(chan message, 1024)
	c := &consumer{e: e, acks: make(chan message, 1024)}
	go c.acker()
	go produce(e, broker, func(t float64) float64 { return 20 + 380*min(1, t/45) })
	for m := range broker {
		go c.process(m)
	}
}

func produce(e *env, broker chan<- message, rate func(t float64) float64) {
	id := 0
	for {
		for range poisson(e, rate(e.now())*0.1) {
			id++
			broker <- message{id: id, acked: make(chan struct{})}
		}
		time.Sleep(e.mins(0.1))
	}
}

func (c *consumer) process(m message) {
	time.Sleep(c.e.mins(c.e.uniform(0.05, 0.3))) // decode and validate
	ms := c.e.mins(c.e.uniform(0.2, 0.9)).Milliseconds()
	if err := getItem(c.e, fmt.Sprintf("%s/api/slow?ms=%d", c.e.base, ms)); err != nil {
		log.Printf("process %d: %v", m.id, err)
	}
	c.acks <- m
	<-m.acked // the broker confirms acks in batches
}

// acker confirms pending acks in batches, every 0.4 program minutes.
func (c *consumer) acker() {
	tick := time.NewTicker(c.e.mins(0.4))
	defer tick.Stop()
	var pending []message
	for {
		select {
		case m := <-c.acks:
			pending = append(pending, m)
		case <-tick.C:
			for _, m := range pending {
				close(m.acked)
			}
			pending = pending[:0]
		}
	}
}
