package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"time"
)

// serveMetrics serves h (the Prometheus /metrics handler) on its own
// listener at addr, without authentication: the operator chose who can
// reach that address (ADR 0037). Nothing is served when addr is empty.
func serveMetrics(addr string, h nethttp.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := nethttp.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &nethttp.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	log.Info("metrics serving", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
