package forward

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/cairnhq/cairn/ledger"
)

// OCSF API Activity (class 6003, category 6 Application Activity), OCSF
// schema 1.1.0. The mapping of every Cairn event type is in docs/siem.md.
const (
	ocsfVersion     = "1.1.0"
	ocsfClassUID    = 6003
	ocsfCategoryUID = 6
)

// OCSF API Activity activity ids.
const (
	ocsfCreate = 1
	ocsfRead   = 2
	ocsfUpdate = 3
	ocsfDelete = 4
	ocsfOther  = 99
)

// ocsfActivity maps each Cairn event type to its API Activity activity_id
// and, for Other (99), the activity_name. A type not listed (a newer
// server's) maps to Other with the type as its name.
var ocsfActivity = map[string]struct {
	id   int
	name string
}{
	ledger.EventJobSubmitted:        {ocsfCreate, "Create"},
	ledger.EventPolicyDecided:       {ocsfOther, "Decide"},
	ledger.EventApprovalRequested:   {ocsfCreate, "Create"},
	ledger.EventApprovalResolved:    {ocsfUpdate, "Update"},
	ledger.EventJobDispatched:       {ocsfUpdate, "Update"},
	ledger.EventLeaseExpired:        {ocsfUpdate, "Update"},
	ledger.EventJobCompleted:        {ocsfUpdate, "Update"},
	ledger.EventOutputChecked:       {ocsfOther, "Check"},
	ledger.EventJobStateChanged:     {ocsfUpdate, "Update"},
	ledger.EventPolicyPublished:     {ocsfCreate, "Create"},
	ledger.EventPolicyRolledBack:    {ocsfUpdate, "Update"},
	ledger.EventKeyCreated:          {ocsfCreate, "Create"},
	ledger.EventKeyRevoked:          {ocsfDelete, "Delete"},
	ledger.EventWorkflowRegistered:  {ocsfCreate, "Create"},
	ledger.EventRunStarted:          {ocsfCreate, "Create"},
	ledger.EventRunReopened:         {ocsfUpdate, "Update"},
	ledger.EventRunCompleted:        {ocsfUpdate, "Update"},
	ledger.EventRunStatusChanged:    {ocsfUpdate, "Update"},
	ledger.EventStepStarted:         {ocsfUpdate, "Update"},
	ledger.EventStepSkipped:         {ocsfUpdate, "Update"},
	ledger.EventStepReused:          {ocsfUpdate, "Update"},
	ledger.EventStepSucceeded:       {ocsfUpdate, "Update"},
	ledger.EventStepFailed:          {ocsfUpdate, "Update"},
	ledger.EventStepRetryScheduled:  {ocsfUpdate, "Update"},
	ledger.EventStepTimedOut:        {ocsfUpdate, "Update"},
	ledger.EventStepCancelled:       {ocsfUpdate, "Update"},
	ledger.EventGateRequested:       {ocsfCreate, "Create"},
	ledger.EventGateVoted:           {ocsfUpdate, "Update"},
	ledger.EventGateResolved:        {ocsfUpdate, "Update"},
	ledger.EventCompensationStarted: {ocsfUpdate, "Update"},
}

// ocsfResource is the type OCSF records give each Cairn id.
type ocsfResource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// OCSFRecord builds the OCSF API Activity record of r.
func OCSFRecord(r *Record) (map[string]any, error) {
	env, err := r.Envelope()
	if err != nil {
		return nil, err
	}
	ev := &env.Event
	act, ok := ocsfActivity[ev.Type]
	if !ok {
		act.id, act.name = ocsfOther, ev.Type
	}
	statusID, status := 1, "Success"
	severityID, severity := 1, "Informational"
	detail := ""
	switch {
	case ev.Decision == "DENY":
		statusID, status, detail = 2, "Failure", "DENY"
		severityID, severity = 3, "Medium"
	case ev.OutputSafety != nil && ev.OutputSafety.Decision == "QUARANTINE":
		detail = "QUARANTINE"
		severityID, severity = 3, "Medium"
	case ev.Resolution == "rejected" || ev.Resolution == "expired":
		statusID, status, detail = 2, "Failure", ev.Resolution
	case ev.State == "FAILED":
		statusID, status, detail = 2, "Failure", ev.State
	case ev.Decision != "":
		detail = ev.Decision
	case ev.Resolution != "":
		detail = ev.Resolution
	case ev.State != "":
		detail = ev.State
	}
	var resources []ocsfResource
	add := func(typ, uid string) {
		if uid != "" {
			resources = append(resources, ocsfResource{typ, uid})
		}
	}
	add("job", ev.JobID)
	add("workflow_run", ev.RunID)
	add("workflow_step", ev.WorkflowStepID)
	add("policy_snapshot", ev.PolicySnapshot)
	add("policy_rule", ev.PolicyRuleID)
	actor := ev.Actor
	if actor == "" {
		actor = "cairn"
	}
	api := map[string]any{
		"operation": ev.Type,
		"service":   map[string]any{"name": "cairn"},
	}
	if ev.JobID != "" {
		api["request"] = map[string]any{"uid": ev.JobID}
	}
	metadata := map[string]any{
		"version":       ocsfVersion,
		"product":       map[string]any{"name": "Cairn", "vendor_name": "Cairn"},
		"uid":           env.Tenant + ":" + strconv.FormatUint(r.Index, 10),
		"sequence":      r.Index,
		"event_code":    ev.Type,
		"tenant_uid":    env.Tenant,
		"original_time": ev.Timestamp,
		"log_name":      "cairn-ledger",
	}
	if ev.Data.Job != nil && ev.Data.Job.TraceID != "" {
		metadata["correlation_uid"] = ev.Data.Job.TraceID
	}
	out := map[string]any{
		"class_uid":     ocsfClassUID,
		"class_name":    "API Activity",
		"category_uid":  ocsfCategoryUID,
		"category_name": "Application Activity",
		"activity_id":   act.id,
		"activity_name": act.name,
		"type_uid":      ocsfClassUID*100 + act.id,
		"type_name":     "API Activity: " + act.name,
		"time":          r.Time().UnixMilli(),
		"severity_id":   severityID,
		"severity":      severity,
		"status_id":     statusID,
		"status":        status,
		"actor":         map[string]any{"user": map[string]any{"uid": actor, "name": actor}},
		"api":           api,
		"cloud":         map[string]any{"provider": "cairn"},
		"src_endpoint":  map[string]any{"svc_name": "cairn"},
		"metadata":      metadata,
		"unmapped": map[string]any{
			"cairn": map[string]any{"index": r.Index, "leaf_hash": r.LeafHash, "body": r.Body},
		},
	}
	if detail != "" {
		out["status_detail"] = detail
	}
	if len(resources) > 0 {
		out["resources"] = resources
	}
	return out, nil
}

// encodeOCSF writes the batch as NDJSON of OCSF records.
func encodeOCSF(buf *bytes.Buffer, recs []Record) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	for i := range recs {
		o, err := OCSFRecord(&recs[i])
		if err != nil {
			return err
		}
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	return nil
}
