package ledger

import (
	"encoding/base64"

	jsonv2 "github.com/go-json-experiment/json"
)

// Reading a bundle (UnmarshalBundle) with the reader of jsonread.go. The
// lists that make up nearly all of a large bundle (entries, inclusion
// proofs, payloads, job rows) are read member by member from tables; the
// other members are small and read by json.Unmarshal (v2: exact member
// names, none repeated anywhere in the value).

func unmarshalBundle(data []byte) (*Bundle, error) {
	r, err := newReader(data)
	if err != nil {
		return nil, err
	}
	defer r.release()
	b := &Bundle{}
	// No member name may repeat at the top level, not even an unknown one.
	others := map[string]bool{}
	err = readMembers(r, b, bundleFields, func(name []byte) error {
		if others[string(name)] {
			return shapeErr("member %q repeated", name)
		}
		others[string(name)] = true
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

var bundleFields = []field[Bundle]{
	unmarshal("format", func(b *Bundle) any { return &b.Format }),
	unmarshal("tenant", func(b *Bundle) any { return &b.Tenant }),
	unmarshal("origin", func(b *Bundle) any { return &b.Origin }),
	unmarshal("public_key", func(b *Bundle) any { return &b.PublicKey }),
	unmarshal("checkpoint", func(b *Bundle) any { return &b.Checkpoint }),
	unmarshal("range", func(b *Bundle) any { return &b.Range }),
	unmarshal("consistency_proofs", func(b *Bundle) any { return &b.ConsistencyProofs }),
	unmarshal("policies", func(b *Bundle) any { return &b.Policies }),
	unmarshal("workflows", func(b *Bundle) any { return &b.Workflows }),
	{name: "entries", read: func(r *reader, b *Bundle) error { return readList(r, &b.Entries, entryFields) }},
	{name: "inclusion_proofs", read: func(r *reader, b *Bundle) error {
		return readList(r, &b.InclusionProofs, inclusionProofFields)
	}},
	{name: "payloads", read: func(r *reader, b *Bundle) error { return readList(r, &b.Payloads, payloadFields) }},
	{name: "jobs", read: func(r *reader, b *Bundle) error { return readList(r, &b.Jobs, jobRowFields) }},
}

// unmarshal is the field of a member read by json.Unmarshal into dst(b).
func unmarshal(name string, dst func(b *Bundle) any) field[Bundle] {
	return field[Bundle]{name: name, read: func(r *reader, b *Bundle) error {
		v, err := r.value()
		if err != nil {
			return err
		}
		return jsonv2.Unmarshal(v, dst(b))
	}}
}

// readList reads null (leaving *dst nil) or an array of objects.
func readList[T any](r *reader, dst *[]T, fields []field[T]) error {
	if r.d.PeekKind() == 'n' {
		return r.null()
	}
	*dst = []T{}
	return r.readArray(func() error {
		var zero T
		*dst = append(*dst, zero)
		return decodeObject(r, &(*dst)[len(*dst)-1], fields)
	})
}

var entryFields = []field[Entry]{
	{name: "index", required: true, read: func(r *reader, e *Entry) error { return r.uint(&e.Index) }},
	text("leaf_hash", func(e *Entry) *string { return &e.LeafHash }),
	text("body", func(e *Entry) *string { return &e.Body }),
	{name: "pruned_by", read: func(r *reader, e *Entry) error {
		var v uint64
		if err := r.uint(&v); err != nil {
			return err
		}
		e.PrunedBy = &v
		return nil
	}},
}

var inclusionProofFields = []field[BundleInclusionProof]{
	{name: "index", read: func(r *reader, p *BundleInclusionProof) error { return r.uint(&p.Index) }},
	{name: "size", read: func(r *reader, p *BundleInclusionProof) error { return r.uint(&p.Size) }},
	{name: "hashes", read: func(r *reader, p *BundleInclusionProof) error { return readStrings(r, &p.Hashes) }},
}

var payloadFields = []field[Payload]{
	text("ptr", func(p *Payload) *string { return &p.Ptr }),
	text("sha256", func(p *Payload) *string { return &p.SHA256 }),
	text("reason", func(p *Payload) *string { return &p.Reason }),
	{name: "withheld", read: func(r *reader, p *Payload) error { return r.boolOrNull(&p.Withheld) }},
	{name: "data", read: readPayloadData},
	{name: "erased_by", read: func(r *reader, p *Payload) error {
		if r.d.PeekKind() == 'n' {
			return r.null()
		}
		p.ErasedBy = new(uint64)
		return r.uint(p.ErasedBy)
	}},
}

// readPayloadData reads data: base64 (standard, padded), or null or "" for
// none.
func readPayloadData(r *reader, p *Payload) error {
	if r.d.PeekKind() == 'n' {
		return r.null()
	}
	b64, err := r.str()
	if err != nil || len(b64) == 0 {
		return err
	}
	if p.Data, err = base64.StdEncoding.DecodeString(string(b64)); err != nil {
		return shapeErr("payload data: %v", err)
	}
	return nil
}

var jobRowFields = []field[JobRow]{
	text("job_id", func(j *JobRow) *string { return &j.JobID }),
	text("job_hash", func(j *JobRow) *string { return &j.JobHash }),
	text("state", func(j *JobRow) *string { return &j.State }),
	text("decision", func(j *JobRow) *string { return &j.Decision }),
	text("policy_rule_id", func(j *JobRow) *string { return &j.PolicyRuleID }),
	text("policy_snapshot", func(j *JobRow) *string { return &j.PolicySnapshot }),
	text("resolution", func(j *JobRow) *string { return &j.Resolution }),
	text("resolved_by", func(j *JobRow) *string { return &j.ResolvedBy }),
	text("output_safety", func(j *JobRow) *string { return &j.OutputSafety }),
	text("context_ptr", func(j *JobRow) *string { return &j.ContextPtr }),
	text("context_sha256", func(j *JobRow) *string { return &j.ContextSHA256 }),
	text("result_ptr", func(j *JobRow) *string { return &j.ResultPtr }),
	text("result_sha256", func(j *JobRow) *string { return &j.ResultSHA256 }),
}
