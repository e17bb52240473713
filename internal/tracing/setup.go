package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// DefaultServiceName names the service when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "cairn"

// Setup installs an OTLP trace exporter configured by the standard
// OpenTelemetry environment variables:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (without
// either, tracing stays off and Setup returns a no-op shutdown),
// OTEL_EXPORTER_OTLP_PROTOCOL / _TRACES_PROTOCOL (http/protobuf, the
// default, or grpc), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER and _ARG, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER
// (otlp or none) and the exporters' own OTEL_EXPORTER_OTLP_* settings
// (headers, timeout, certificates), which they read themselves. A setting
// Cairn cannot honour is an error: the operator asked for traces and would
// silently get none.
//
// shutdown flushes the spans still queued and stops the exporter.
func Setup(ctx context.Context) (shutdown func(context.Context) error, err error) {
	getenv := os.Getenv // the exporters read the same variables themselves
	none := func(context.Context) error { return nil }
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return none, nil
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
	case "none":
		return none, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: cairn exports traces only with otlp (or none)", e)
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return none, nil
	}
	sampler, err := samplerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	exp, err := exporter(ctx, getenv)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	bsp := sdktrace.NewBatchSpanProcessor(exp) // OTEL_BSP_* tune the batches
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(bsp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(idGenerator{}),
	)
	// res already holds what the provider merges in (resource.Environment):
	// Cairn's spans and the provider's share one resource.
	install(tp, sampler, bsp, res)
	return func(ctx context.Context) error {
		install(nil, nil, nil, nil)
		return tp.Shutdown(ctx) // flushes and stops bsp too
	}, nil
}

// exporter builds the OTLP exporter for the configured protocol: the OTLP
// exporter's client, with Cairn's conversion to OTLP messages (spanExporter).
func exporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if proto == "" {
		proto = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch proto {
	case "", "http/protobuf":
		return newExporter(ctx, otlptracehttp.NewClient())
	case "grpc":
		return newExporter(ctx, otlptracegrpc.NewClient())
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: cairn speaks http/protobuf or grpc", proto)
}
