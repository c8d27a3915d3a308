package main

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// The gRPC service is described by hand (no protoc on the build machine): a "raw" codec moves
// byte frames, and the ServiceDesc is what protoc-gen-go-grpc would generate for
//
//	service Prices {
//	  rpc Get(Req) returns (Quote);          // answered after the requested latency
//	  rpc Lookup(Req) returns (Quote);       // a database query of the requested latency
//	  rpc Watch(Req) returns (stream Quote); // n quotes from the pricing backend
//	}

type frame struct{ b []byte }

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return v.(*frame).b, nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	f := v.(*frame)
	f.b = append(f.b[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

func init() { encoding.RegisterCodec(rawCodec{}) }

var pricesDesc = grpc.ServiceDesc{
	ServiceName: "prices.Prices",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Get", Handler: getHandler}, {MethodName: "Lookup", Handler: lookupHandler}},
	Streams:     []grpc.StreamDesc{{StreamName: "Watch", Handler: watchHandler, ServerStreams: true}},
	Metadata:    "prices.proto",
}

// A request: quotes wanted (uint16) and per-quote latency in milliseconds (uint32).
func encodeReq(n int, latency time.Duration) *frame {
	b := make([]byte, 6)
	binary.BigEndian.PutUint16(b, uint16(n))
	binary.BigEndian.PutUint32(b[2:], uint32(latency.Milliseconds()))
	return &frame{b: b}
}

func decodeReq(f *frame) (int, time.Duration) {
	if len(f.b) < 6 {
		return 1, 0
	}
	return int(binary.BigEndian.Uint16(f.b)), time.Duration(binary.BigEndian.Uint32(f.b[2:])) * time.Millisecond
}

var quoteBody = make([]byte, 256)

// pricesServer answers quotes through a backend (a pricing engine reached over a queue): each
// quote is a request on a channel and a wait for its reply. dropEvery > 0 makes the backend lose
// one request in dropEvery without replying (a bug upstream); handlers that wait without their
// stream's context then never return.
type pricesServer struct {
	e         *env
	backend   chan quoteReq
	dropEvery int
}

type quoteReq struct {
	latency time.Duration
	reply   chan []byte
}

func (s *pricesServer) runBackend() {
	n := 0
	for q := range s.backend {
		n++
		if s.dropEvery > 0 && int(s.e.uniform(0, float64(s.dropEvery))) == 0 {
			continue
		}
		q := q
		time.AfterFunc(q.latency, func() { q.reply <- quoteBody })
	}
}

// quote waits for the backend's answer; it has no ctx case (the bug grpc-handler-stuck-share shows).
func (s *pricesServer) quote(latency time.Duration) []byte {
	q := quoteReq{latency: latency, reply: make(chan []byte, 1)}
	s.backend <- q
	return <-q.reply
}

func getHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in frame
	if err := dec(&in); err != nil {
		return nil, err
	}
	_, latency := decodeReq(&in)
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &frame{b: quoteBody}, nil
}

// lookupHandler runs one query through the service's database pool: while it is in flight the
// handler waits in the driver's socket read.
func lookupHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in frame
	if err := dec(&in); err != nil {
		return nil, err
	}
	_, latency := decodeReq(&in)
	e := srv.(*pricesServer).e
	q, args := e.sleepSQL(latency)
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return &frame{b: quoteBody}, rows.Err()
}

func watchHandler(srv interface{}, stream grpc.ServerStream) error {
	s := srv.(*pricesServer)
	var in frame
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	n, latency := decodeReq(&in)
	for i := 0; i < n; i++ {
		if err := stream.SendMsg(&frame{b: s.quote(latency)}); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) startGRPC() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	e.grpcAddr = ln.Addr().String()
	e.prices = &pricesServer{e: e, backend: make(chan quoteReq, 64)}
	go e.prices.runBackend()
	srv := grpc.NewServer()
	srv.RegisterService(&pricesDesc, e.prices)
	go func() { log.Fatal(srv.Serve(ln)) }()
	cc, err := grpc.Dial(e.grpcAddr, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.CallContentSubtype("raw")))
	if err != nil {
		log.Fatal(err)
	}
	e.cc = cc
}

// getQuote is a unary call, as most of a service's gRPC traffic.
func (e *env) getQuote(ctx context.Context, latency time.Duration) error {
	var out frame
	return e.cc.Invoke(ctx, "/prices.Prices/Get", encodeReq(1, latency), &out)
}

// watch opens a server stream for n quotes and drains it to io.EOF: the correct client.
func (e *env) watch(ctx context.Context, n int, latency time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := e.cc.NewStream(ctx, &pricesDesc.Streams[0], "/prices.Prices/Watch")
	if err != nil {
		return err
	}
	if err := cs.SendMsg(encodeReq(n, latency)); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		var q frame
		if err := cs.RecvMsg(&q); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
