package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"sync/atomic"
	"time"
)

// serveHTTP serves h until ctx ends, then drains for cfg.Drain and shuts
// down, finishing the requests in flight; onShutdown run as the shutdown
// begins.
func serveHTTP(ctx context.Context, cfg Config, h nethttp.Handler, log *slog.Logger, onShutdown ...func()) error {
	d := &drainer{next: h}
	srv := &nethttp.Server{
		Handler:           d,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	for _, f := range onShutdown {
		srv.RegisterOnShutdown(f)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = listen(cfg.Addr, cfg.ListenFD); err != nil {
			return err
		}
	}
	log.Info("cairn serving", "addr", ln.Addr().String(), "data", cfg.DataDir, "store", StoreName(cfg.Store))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if cfg.Drain > 0 {
		d.draining.Store(true)
		log.Info("draining", "for", cfg.Drain.String())
		select {
		case err := <-errc:
			return err
		case <-time.After(cfg.Drain):
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// drainer passes requests on; while draining, /readyz fails and every
// answer closes its connection, so a load balancer moves clients to other
// replicas before shutdown.
type drainer struct {
	next     nethttp.Handler
	draining atomic.Bool
}

func (d *drainer) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if d.draining.Load() {
		w.Header().Set("Connection", "close")
		if r.URL.Path == "/readyz" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(nethttp.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"draining"}` + "\n"))
			return
		}
	}
	d.next.ServeHTTP(w, r)
}

// listen binds addr, or with fd > 0 takes over the inherited listening
// socket with that descriptor: a supervisor (or a test) that holds the
// port keeps it bound while the server restarts, so nothing else can take
// it and connections wait in its backlog instead of being refused.
func listen(addr string, fd int) (net.Listener, error) {
	if fd <= 0 {
		return net.Listen("tcp", addr)
	}
	if fd <= 2 {
		return nil, fmt.Errorf("--listen-fd %d is a standard stream, not a socket", fd)
	}
	f := os.NewFile(uintptr(fd), "listen-fd")
	if f == nil {
		return nil, fmt.Errorf("--listen-fd %d is not an open descriptor", fd)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("--listen-fd %d: %w", fd, err)
	}
	return ln, nil
}
