package serve

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
)

func TestWitnessFlagValidated(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, bad := range []string{"http://w.example", "http://w.example=notakey", "w.example=w.example+01234567+AQtp/SgGkQykfZCmYoGtsqndwZGYqyDSSb7bbcEM4l8D"} {
		if _, err := startTlog(TlogConfig{Witnesses: []string{bad}}, cairnhttp.New(nil, log), nil, log); err == nil || !strings.Contains(err.Error(), "--witness") {
			t.Errorf("--witness %q: %v", bad, err)
		}
	}
	stop, err := startTlog(TlogConfig{}, cairnhttp.New(nil, log), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
