package main

import (
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/spf13/cobra"
)

// retentionFlags are serve's retention flags (docs/data-protection.md).
var retentionFlags struct {
	retention       string
	allowBelowFloor bool
	period          time.Duration // retention, parsed by checkRetentionFlags
}

func addRetentionFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&retentionFlags.retention, "retention", envOr("CAIRN_RETENTION", ""), "how long evidence stays readable in full, e.g. 400d (at least 183d); past it a background compaction prunes payloads, job rows and ledger bodies, keeping leaf hashes, the Merkle tree and checkpoints; empty = forever; a tenant may set its own (env CAIRN_RETENTION)")
	f.BoolVar(&retentionFlags.allowBelowFloor, "allow-retention-below-floor", false, "allow a retention (server or tenant) below the 183-day floor; its use is recorded in the ledger")
}

// checkRetentionFlags parses --retention and refuses one below the floor
// (naming the floor and its reason) unless --allow-retention-below-floor is
// given: before anything is opened.
func checkRetentionFlags() error {
	retentionFlags.period = 0
	if s := retentionFlags.retention; s != "" {
		d, err := cairn.ParseRetention(s)
		if err != nil {
			return fmt.Errorf("--retention: %v", err)
		}
		retentionFlags.period = d
	}
	if d := retentionFlags.period; d > 0 && d < cairn.RetentionFloor && !retentionFlags.allowBelowFloor {
		return fmt.Errorf("--retention %s", service.BelowFloorError("retention", d).(*cairn.Error).Message)
	}
	return nil
}

// applyRetention gives svc the checked retention flags.
func applyRetention(svc *service.Service) error {
	return svc.SetRetention(retentionFlags.period, retentionFlags.allowBelowFloor)
}
