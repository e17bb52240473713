package serve

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Validate checks every bound of cfg; each message names the flag.
func (cfg Config) Validate() error {
	checks := []func() error{cfg.validateRates, cfg.validateAdmission, cfg.validateLogLevel, cfg.validateTlog, cfg.validateRetention}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// badRate reports whether f is not a rate from 0 to 1e6 a second.
func badRate(f float64) bool {
	return f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e6
}

func (cfg Config) validateRates() error {
	if f := cfg.RateLimit; badRate(f) {
		return fmt.Errorf("--rate-limit %g: must be from 0 (no limit) to 1000000 requests a second", f)
	}
	if n := cfg.RateBurst; n < 0 || n > 1e6 {
		return fmt.Errorf("--rate-burst %d: must be from 0 (the default) to 1000000", n)
	}
	if f := cfg.AuthFailLimit; badRate(f) {
		return fmt.Errorf("--auth-fail-limit %g: must be from 0 (no limit) to 1000000 a second", f)
	}
	if n := cfg.AuthFailBurst; n < 1 || n > 1e6 {
		return fmt.Errorf("--auth-fail-burst %d: must be from 1 to 1000000", n)
	}
	return nil
}

func (cfg Config) validateAdmission() error {
	if n := cfg.MaxInflight; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-inflight %d: must be from 0 (no bound) to 10000000", n)
	}
	if n := cfg.MaxPolls; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-polls %d: must be from 0 (the default) to 10000000", n)
	}
	if n := cfg.PerPrincipal; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-inflight-per-principal %d: must be from 0 (the default) to 10000000", n)
	}
	if d := cfg.BodyTimeout; d < time.Second || d > 10*time.Minute {
		return fmt.Errorf("--body-timeout %s: must be from 1s to 10m", d)
	}
	if n := cfg.MaxExports; n < 0 || n > 64 {
		return fmt.Errorf("--max-exports %d: must be from 0 (the default) to 64", n)
	}
	return nil
}

func (cfg Config) validateLogLevel() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}

func (cfg Config) validateTlog() error {
	_, err := cfg.Tlog.witnesses()
	return err
}
