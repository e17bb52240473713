package serve

import (
	"fmt"
	"log/slog"
	"time"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/tlogwitness"
)

// TlogConfig is the tlog-tiles view and the witnesses checkpoints are
// pushed to (flags --public-tlog, --tlog-hashes-only, --witness,
// --witness-interval).
type TlogConfig struct {
	Public          bool
	HashesOnly      bool
	Witnesses       []string // URL=vkey each
	WitnessInterval time.Duration
}

// witnesses parses the --witness values.
func (t TlogConfig) witnesses() ([]*tlogwitness.Witness, error) {
	var ws []*tlogwitness.Witness
	for _, s := range t.Witnesses {
		w, err := tlogwitness.ParseWitness(s)
		if err != nil {
			return nil, fmt.Errorf("--witness %q: %w", s, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// startTlog configures the /tlog/ routes and starts pushing to the
// witnesses; the returned stop ends the pushing.
func startTlog(t TlogConfig, api *cairnhttp.Server, svc *service.Service, log *slog.Logger) (stop func(), err error) {
	api.SetTlogAccess(cairnhttp.TlogAccess{Public: t.Public, HashesOnly: t.HashesOnly})
	ws, err := t.witnesses()
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return func() {}, nil
	}
	p := tlogwitness.New(svc, log, ws, tlogwitness.Options{Interval: t.WitnessInterval})
	if err := api.Registry().Register(p.Collector()); err != nil {
		return nil, err
	}
	p.Start()
	for _, w := range ws {
		log.Info("pushing checkpoints to witness", "witness", w.Name(), "url", w.URL)
	}
	return p.Stop, nil
}
