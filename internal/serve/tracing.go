package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cairnhq/cairn/internal/tracing"
)

// StartTracing installs the OTLP trace exporter the OTEL_* environment
// variables configure (none without an endpoint: tracing stays off). stop
// flushes the spans still queued.
func StartTracing(ctx context.Context, log *slog.Logger) (stop func(), err error) {
	shutdown, err := tracing.Setup(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if tracing.Enabled() {
		log.Info("tracing on: spans are exported over OTLP", "endpoint", firstSet("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("tracing: flushing spans at shutdown failed", "err", err)
		}
	}, nil
}

func firstSet(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
