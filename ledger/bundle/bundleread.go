package bundle

import (
	"encoding/base64"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/cairnhq/cairn/ledger/internal/jsonread"
)

// Reading a bundle (UnmarshalBundle) with the reader of package jsonread. The
// lists that make up nearly all of a large bundle (entries, inclusion
// proofs, payloads, job rows) are read member by member from tables; the
// other members are small and read by json.Unmarshal (v2: exact member
// names, none repeated anywhere in the value).

func unmarshalBundle(data []byte) (*Bundle, error) {
	r, err := jsonread.NewReader(data)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	b := &Bundle{}
	// No member name may repeat at the top level, not even an unknown one.
	others := map[string]bool{}
	err = jsonread.ReadMembers(r, b, bundleFields, func(name []byte) error {
		if others[string(name)] {
			return jsonread.ShapeErr("member %q repeated", name)
		}
		others[string(name)] = true
		return r.Skip()
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

var bundleFields = []jsonread.Field[Bundle]{
	unmarshal("format", func(b *Bundle) any { return &b.Format }),
	unmarshal("tenant", func(b *Bundle) any { return &b.Tenant }),
	unmarshal("origin", func(b *Bundle) any { return &b.Origin }),
	unmarshal("public_key", func(b *Bundle) any { return &b.PublicKey }),
	unmarshal("checkpoint", func(b *Bundle) any { return &b.Checkpoint }),
	unmarshal("range", func(b *Bundle) any { return &b.Range }),
	unmarshal("consistency_proofs", func(b *Bundle) any { return &b.ConsistencyProofs }),
	unmarshal("policies", func(b *Bundle) any { return &b.Policies }),
	unmarshal("workflows", func(b *Bundle) any { return &b.Workflows }),
	{Name: "entries", Read: func(r *jsonread.Reader, b *Bundle) error { return readList(r, &b.Entries, entryFields) }},
	{Name: "inclusion_proofs", Read: func(r *jsonread.Reader, b *Bundle) error {
		return readList(r, &b.InclusionProofs, inclusionProofFields)
	}},
	{Name: "payloads", Read: func(r *jsonread.Reader, b *Bundle) error { return readList(r, &b.Payloads, payloadFields) }},
	{Name: "jobs", Read: func(r *jsonread.Reader, b *Bundle) error { return readList(r, &b.Jobs, jobRowFields) }},
}

// unmarshal is the jsonread.Field of a member read by json.Unmarshal into dst(b).
func unmarshal(name string, dst func(b *Bundle) any) jsonread.Field[Bundle] {
	return jsonread.Field[Bundle]{Name: name, Read: func(r *jsonread.Reader, b *Bundle) error {
		v, err := r.Value()
		if err != nil {
			return err
		}
		return jsonv2.Unmarshal(v, dst(b))
	}}
}

// readList reads null (leaving *dst nil) or an array of objects.
func readList[T any](r *jsonread.Reader, dst *[]T, fields []jsonread.Field[T]) error {
	if r.PeekKind() == 'n' {
		return r.Null()
	}
	*dst = []T{}
	return r.ReadArray(func() error {
		var zero T
		*dst = append(*dst, zero)
		return jsonread.DecodeObject(r, &(*dst)[len(*dst)-1], fields)
	})
}

var entryFields = []jsonread.Field[Entry]{
	{Name: "index", Required: true, Read: func(r *jsonread.Reader, e *Entry) error { return r.Uint(&e.Index) }},
	jsonread.Text("leaf_hash", func(e *Entry) *string { return &e.LeafHash }),
	jsonread.Text("body", func(e *Entry) *string { return &e.Body }),
	{Name: "pruned_by", Read: func(r *jsonread.Reader, e *Entry) error {
		var v uint64
		if err := r.Uint(&v); err != nil {
			return err
		}
		e.PrunedBy = &v
		return nil
	}},
}

var inclusionProofFields = []jsonread.Field[BundleInclusionProof]{
	{Name: "index", Read: func(r *jsonread.Reader, p *BundleInclusionProof) error { return r.Uint(&p.Index) }},
	{Name: "size", Read: func(r *jsonread.Reader, p *BundleInclusionProof) error { return r.Uint(&p.Size) }},
	{Name: "hashes", Read: func(r *jsonread.Reader, p *BundleInclusionProof) error { return jsonread.ReadStrings(r, &p.Hashes) }},
}

var payloadFields = []jsonread.Field[Payload]{
	jsonread.Text("ptr", func(p *Payload) *string { return &p.Ptr }),
	jsonread.Text("sha256", func(p *Payload) *string { return &p.SHA256 }),
	jsonread.Text("reason", func(p *Payload) *string { return &p.Reason }),
	{Name: "withheld", Read: func(r *jsonread.Reader, p *Payload) error { return r.BoolOrNull(&p.Withheld) }},
	{Name: "data", Read: readPayloadData},
	{Name: "erased_by", Read: func(r *jsonread.Reader, p *Payload) error {
		if r.PeekKind() == 'n' {
			return r.Null()
		}
		p.ErasedBy = new(uint64)
		return r.Uint(p.ErasedBy)
	}},
}

// readPayloadData reads data: base64 (standard, padded), or null or "" for
// none.
func readPayloadData(r *jsonread.Reader, p *Payload) error {
	if r.PeekKind() == 'n' {
		return r.Null()
	}
	b64, err := r.Str()
	if err != nil || len(b64) == 0 {
		return err
	}
	if p.Data, err = base64.StdEncoding.DecodeString(string(b64)); err != nil {
		return jsonread.ShapeErr("payload data: %v", err)
	}
	return nil
}

var jobRowFields = []jsonread.Field[JobRow]{
	jsonread.Text("job_id", func(j *JobRow) *string { return &j.JobID }),
	jsonread.Text("job_hash", func(j *JobRow) *string { return &j.JobHash }),
	jsonread.Text("state", func(j *JobRow) *string { return &j.State }),
	jsonread.Text("decision", func(j *JobRow) *string { return &j.Decision }),
	jsonread.Text("policy_rule_id", func(j *JobRow) *string { return &j.PolicyRuleID }),
	jsonread.Text("policy_snapshot", func(j *JobRow) *string { return &j.PolicySnapshot }),
	jsonread.Text("resolution", func(j *JobRow) *string { return &j.Resolution }),
	jsonread.Text("resolved_by", func(j *JobRow) *string { return &j.ResolvedBy }),
	jsonread.Text("output_safety", func(j *JobRow) *string { return &j.OutputSafety }),
	jsonread.Text("context_ptr", func(j *JobRow) *string { return &j.ContextPtr }),
	jsonread.Text("context_sha256", func(j *JobRow) *string { return &j.ContextSHA256 }),
	jsonread.Text("result_ptr", func(j *JobRow) *string { return &j.ResultPtr }),
	jsonread.Text("result_sha256", func(j *JobRow) *string { return &j.ResultSHA256 }),
}
