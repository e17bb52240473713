package main

import (
	"fmt"
	"log/slog"
	"time"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/spf13/cobra"
)

// tlogFlags are serve's flags for the tlog-tiles view and witness pushing.
var tlogFlags struct {
	public          bool
	hashesOnly      bool
	witnesses       []string
	witnessInterval time.Duration
}

func addTlogFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&tlogFlags.public, "public-tlog", false, "serve every tenant's tlog-tiles (/tlog/<tenant>/…) without a key; entry bundles reveal action names, labels and hashes (docs/evidence.md)")
	f.BoolVar(&tlogFlags.hashesOnly, "tlog-hashes-only", false, "serve the tlog checkpoint and hash tiles but no entry bundles")
	f.StringArrayVar(&tlogFlags.witnesses, "witness", nil, "push checkpoints to a C2SP tlog-witness: URL=vkey (repeatable)")
	f.DurationVar(&tlogFlags.witnessInterval, "witness-interval", tlogwitness.DefaultInterval, "how often witnesses are offered the latest checkpoints")
}

// startTlog configures the /tlog/ routes and starts pushing to the
// witnesses; the returned stop ends the pushing.
func startTlog(api *cairnhttp.Server, svc *service.Service, log *slog.Logger) (stop func(), err error) {
	api.SetTlogAccess(cairnhttp.TlogAccess{Public: tlogFlags.public, HashesOnly: tlogFlags.hashesOnly})
	var ws []*tlogwitness.Witness
	for _, s := range tlogFlags.witnesses {
		w, err := tlogwitness.ParseWitness(s)
		if err != nil {
			return nil, fmt.Errorf("--witness %q: %w", s, err)
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		return func() {}, nil
	}
	p := tlogwitness.New(svc, log, ws, tlogwitness.Options{Interval: tlogFlags.witnessInterval})
	if err := api.Registry().Register(p.Collector()); err != nil {
		return nil, err
	}
	p.Start()
	for _, w := range ws {
		log.Info("pushing checkpoints to witness", "witness", w.Name(), "url", w.URL)
	}
	return p.Stop, nil
}
