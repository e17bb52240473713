package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// hecEvent is one event of a Splunk HTTP Event Collector batch
// (/services/collector/event): the record in the feed's format as event,
// the ledger index and leaf hash also as indexed fields.
type hecEvent struct {
	Time       json.Number    `json:"time"` // seconds since the epoch, with milliseconds
	Host       string         `json:"host,omitempty"`
	Source     string         `json:"source"`
	Sourcetype string         `json:"sourcetype"`
	Index      string         `json:"index,omitempty"`
	Event      hecRecord      `json:"event"`
	Fields     map[string]any `json:"fields"`
}

type hecRecord struct {
	Index    uint64          `json:"index"`
	LeafHash string          `json:"leaf_hash"`
	Body     json.RawMessage `json:"body"`
}

// hecEncoder writes HEC batches: concatenated JSON event objects.
type hecEncoder struct {
	host, source, sourcetype, index string
}

func (h *hecEncoder) encode(buf *bytes.Buffer, recs []Record) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	for i := range recs {
		r := &recs[i]
		env, err := r.Envelope()
		if err != nil {
			return err
		}
		t := r.Time()
		ev := hecEvent{
			Time:       json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)),
			Host:       h.host,
			Source:     h.source,
			Sourcetype: h.sourcetype,
			Index:      h.index,
			Event:      hecRecord{Index: r.Index, LeafHash: r.LeafHash, Body: r.Body},
			Fields: map[string]any{
				"cairn_ledger_index": r.Index,
				"cairn_leaf_hash":    r.LeafHash,
				"cairn_tenant":       env.Tenant,
				"cairn_event_type":   env.Event.Type,
			},
		}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return nil
}

// hecCheck accepts HEC's success answer {"text":"Success","code":0}.
func hecCheck(body []byte) error {
	var a struct {
		Text string `json:"text"`
		Code *int   `json:"code"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Code == nil {
		return fmt.Errorf("the answer is not a HEC answer")
	}
	if *a.Code != 0 {
		return fmt.Errorf("HEC answered code %d: %s", *a.Code, a.Text)
	}
	return nil
}
