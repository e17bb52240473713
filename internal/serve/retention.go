package serve

import (
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// Retention (--retention, --allow-retention-below-floor;
// docs/data-protection.md, ADR 0046).

// retentionPeriod parses --retention (0: keep forever).
func (cfg Config) retentionPeriod() (time.Duration, error) {
	if cfg.Retention == "" {
		return 0, nil
	}
	d, err := cairn.ParseRetention(cfg.Retention)
	if err != nil {
		return 0, fmt.Errorf("--retention: %v", err)
	}
	return d, nil
}

// validateRetention refuses a malformed --retention, and one below the
// floor (naming the floor and its reason) unless
// --allow-retention-below-floor is given: before anything is opened.
func (cfg Config) validateRetention() error {
	d, err := cfg.retentionPeriod()
	if err != nil {
		return err
	}
	if d > 0 && d < cairn.RetentionFloor && !cfg.AllowRetentionBelowFloor {
		return fmt.Errorf("--retention %s", service.BelowFloorError("retention", d).(*cairn.Error).Message)
	}
	return nil
}

// applyRetention gives svc the server's retention (Start records the use
// of --allow-retention-below-floor in the ledger).
func applyRetention(svc *service.Service, cfg Config) error {
	d, err := cfg.retentionPeriod()
	if err != nil {
		return err
	}
	return svc.SetRetention(d, cfg.AllowRetentionBelowFloor)
}
