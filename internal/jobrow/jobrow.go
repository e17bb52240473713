// Package jobrow is the stored form of a job's row in the SQL stores (ADR
// 0047). The row's columns (tenant, job_id, run_id, state, action,
// decision, policy_rule_id, submitted_by, executor, created_at,
// lease_expires_at) are what the indexes and filters read; the body keeps
// only what they do not: a job's JSON without the members that its columns,
// or the defaults those imply, already give back exactly. A read starts from
// those defaults and decodes the body over them, so it returns the same
// cairn.Job, marshalling to the same bytes, as the full JSON did.
//
// A body written before keeps every member and starts with {"job_id":
// (the job's first field); it reads back as it always did, columns unused.
package jobrow

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
)

// Columns are a job row's indexed columns: "" for a NULL text column.
type Columns struct {
	Tenant, JobID, RunID, State, Action, Decision, PolicyRuleID, SubmittedBy, Executor string
	// CreatedAt is Unix nanoseconds; LeaseExpiresAt too, nil when NULL.
	CreatedAt      int64
	LeaseExpiresAt *int64
}

// Of returns the columns the stores write for j.
func Of(j *cairn.Job) Columns {
	c := Columns{Tenant: j.Tenant, JobID: j.JobID, RunID: string(j.RunID), State: j.State, Action: j.Action, Decision: j.Decision,
		PolicyRuleID: string(j.PolicyRuleID), SubmittedBy: j.SubmittedBy, Executor: j.Executor, CreatedAt: j.CreatedAt.UnixNano()}
	if t := j.LeaseExpiresAt; t != nil && !t.IsZero() {
		n := t.UnixNano()
		c.LeaseExpiresAt = &n
	}
	return c
}

// Defaults is the job a body is decoded over: the columns' values, the
// context pointer its id implies, updated_at equal to created_at, and
// every other field zero.
func (c *Columns) Defaults() *cairn.Job {
	created := time.Unix(0, c.CreatedAt).UTC()
	j := &cairn.Job{JobID: c.JobID, RunID: cairn.Opt(c.RunID), Tenant: c.Tenant, Action: c.Action, SubmittedBy: c.SubmittedBy,
		Executor: c.Executor, State: c.State, Decision: c.Decision, PolicyRuleID: cairn.Opt(c.PolicyRuleID),
		ContextPtr: cairn.ContextPtr(c.JobID), CreatedAt: created, UpdatedAt: created}
	if c.LeaseExpiresAt != nil {
		t := time.Unix(0, *c.LeaseExpiresAt).UTC()
		j.LeaseExpiresAt = &t
	}
	return j
}

// legacyHead is how every full job JSON starts.
var legacyHead = []byte(`{"job_id":`)

// Body returns the body to store for j, whose JSON (json.Marshal) is full:
// full without each member whose value the defaults of j's columns marshal
// to exactly. When that cannot be read back exactly (a member the defaults
// have and full has not, a column that is not UTF-8, or JSON this package
// does not parse) it is full itself.
func Body(j *cairn.Job, full []byte) ([]byte, error) {
	c := Of(j)
	for _, s := range []string{c.Tenant, c.JobID, c.RunID, c.State, c.Action, c.Decision, c.PolicyRuleID, c.SubmittedBy, c.Executor} {
		if !utf8.ValidString(s) {
			return full, nil // its JSON reads back as another string
		}
	}
	dj, err := json.Marshal(c.Defaults())
	if err != nil {
		return nil, err
	}
	fm, ok1 := members(full)
	dm, ok2 := members(dj)
	if !ok1 || !ok2 {
		return full, nil
	}
	out := make([]byte, 0, len(full))
	out = append(out, '{')
	k := 0 // the next default member; both lists are in the fields' order
	for _, m := range fm {
		at := k
		for at < len(dm) && !bytes.Equal(dm[at].key, m.key) {
			at++
		}
		switch {
		case at == len(dm): // the defaults omit it: kept
		case at > k:
			return full, nil // dm[k:at] are defaults full lacks
		default:
			k = at + 1
			if bytes.Equal(dm[at].val, m.val) {
				continue
			}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, m.raw...)
	}
	if k < len(dm) || bytes.HasPrefix(out, legacyHead) {
		return full, nil
	}
	return append(out, '}'), nil
}

// Decode returns the job a stored row holds: body (unpacked) decoded over
// the columns' defaults, or alone when it is a full body written before.
func Decode(c *Columns, body []byte) (*cairn.Job, error) {
	j := &cairn.Job{}
	if !bytes.HasPrefix(body, legacyHead) {
		j = c.Defaults()
	}
	if err := json.Unmarshal(body, j); err != nil {
		return nil, err
	}
	return j, nil
}
