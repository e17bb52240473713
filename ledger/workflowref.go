package ledger

import (
	"fmt"
	"strings"
)

// WorkflowRef is what one ledger entry says about a workflow definition.
type WorkflowRef struct {
	// WorkflowID is the event's data.workflow_id (never empty).
	WorkflowID string
	// Registered is true for a workflow_registered event; Name, Version and
	// SHA256 are then its data.name, data.version and data.sha256 (the
	// definition's name, version and the hex SHA-256 of its exact text).
	Registered bool
	Name       string
	Version    uint64
	SHA256     string
	// RunVersion is a run event's data.workflow_version (run_started
	// records the version the run ran), 0 when absent or null.
	RunVersion uint64
}

// IsWorkflowEvent reports whether events of type typ may refer to a
// workflow definition: workflow_registered and the run_* events.
func IsWorkflowEvent(typ string) bool {
	return typ == EventWorkflowRegistered || strings.HasPrefix(typ, "run_")
}

// EntryWorkflowRef returns the workflow an entry body refers to, or nil when
// it refers to none. Only workflow_registered and run_* events refer to
// workflows, through data.workflow_id (a string; null, absent or "" names
// none; a run event of a run without a workflow has none). A
// workflow_registered event must name one, and its data.name and
// data.sha256 (strings or null) and data.version (a non-negative integer or
// null) are read too. Members of the wrong type, or repeated, are errors
// for those event types only; everything else in the body is skipped (it
// must be valid JSON; ParseEntry checks the envelope).
func EntryWorkflowRef(body string) (*WorkflowRef, error) {
	d, err := readWorkflowDoc(body)
	if err != nil {
		return nil, err
	}
	typ, ref, idErr, regErr, runErr := d.typ, d.ref, d.idErr, d.regErr, d.runErr
	if !IsWorkflowEvent(typ) {
		return nil, nil
	}
	ref.Registered = typ == EventWorkflowRegistered
	if !ref.Registered {
		regErr = runErr
	}
	if idErr != nil || regErr != nil {
		err := idErr
		if err == nil {
			err = regErr
		}
		return nil, fmt.Errorf("%w: %s event: %v", ErrBody, typ, err)
	}
	if ref.WorkflowID == "" {
		if ref.Registered {
			return nil, fmt.Errorf("%w: workflow_registered event without data.workflow_id", ErrBody)
		}
		return nil, nil
	}
	if ref.Registered {
		ref.RunVersion = 0
	} else {
		ref.Name, ref.Version, ref.SHA256 = "", 0, ""
	}
	return &ref, nil
}

// WorkflowDigest splits a workflow id "wf:<tenant>:<name>#sha256:<64
// lowercase hex>" into its tenant, name and hex SHA-256. The name is what
// follows the last ':' before "#sha256:" (names have no ':'; tenants may).
func WorkflowDigest(id string) (tenant, name, sum string, err error) {
	const mark = "#sha256:"
	bad := fmt.Errorf("ledger: %q is not a workflow id", id)
	i := strings.LastIndex(id, mark)
	if !strings.HasPrefix(id, "wf:") || i < len("wf:") {
		return "", "", "", bad
	}
	sum = id[i+len(mark):]
	head := id[len("wf:"):i]
	j := strings.LastIndexByte(head, ':')
	if !isHex64(sum) || j <= 0 || j == len(head)-1 {
		return "", "", "", bad
	}
	return head[:j], head[j+1:], sum, nil
}
