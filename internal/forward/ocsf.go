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
	ledger.EventJobSubmitted:          {ocsfCreate, "Create"},
	ledger.EventPolicyDecided:         {ocsfOther, "Decide"},
	ledger.EventApprovalRequested:     {ocsfCreate, "Create"},
	ledger.EventApprovalResolved:      {ocsfUpdate, "Update"},
	ledger.EventJobDispatched:         {ocsfUpdate, "Update"},
	ledger.EventLeaseExpired:          {ocsfUpdate, "Update"},
	ledger.EventJobCompleted:          {ocsfUpdate, "Update"},
	ledger.EventOutputChecked:         {ocsfOther, "Check"},
	ledger.EventJobStateChanged:       {ocsfUpdate, "Update"},
	ledger.EventPolicyPublished:       {ocsfCreate, "Create"},
	ledger.EventPolicyRolledBack:      {ocsfUpdate, "Update"},
	ledger.EventKeyCreated:            {ocsfCreate, "Create"},
	ledger.EventKeyRevoked:            {ocsfDelete, "Delete"},
	ledger.EventWorkflowRegistered:    {ocsfCreate, "Create"},
	ledger.EventRunStarted:            {ocsfCreate, "Create"},
	ledger.EventRunReopened:           {ocsfUpdate, "Update"},
	ledger.EventRunCompleted:          {ocsfUpdate, "Update"},
	ledger.EventRunStatusChanged:      {ocsfUpdate, "Update"},
	ledger.EventStepStarted:           {ocsfUpdate, "Update"},
	ledger.EventStepSkipped:           {ocsfUpdate, "Update"},
	ledger.EventStepReused:            {ocsfUpdate, "Update"},
	ledger.EventStepSucceeded:         {ocsfUpdate, "Update"},
	ledger.EventStepFailed:            {ocsfUpdate, "Update"},
	ledger.EventStepRetryScheduled:    {ocsfUpdate, "Update"},
	ledger.EventStepTimedOut:          {ocsfUpdate, "Update"},
	ledger.EventStepCancelled:         {ocsfUpdate, "Update"},
	ledger.EventGateRequested:         {ocsfCreate, "Create"},
	ledger.EventGateVoted:             {ocsfUpdate, "Update"},
	ledger.EventGateResolved:          {ocsfUpdate, "Update"},
	ledger.EventCompensationStarted:   {ocsfUpdate, "Update"},
	ledger.EventRetentionSet:          {ocsfUpdate, "Update"},
	ledger.EventRetentionFloorWaived:  {ocsfOther, "Waive"},
	ledger.EventRetentionCompacted:    {ocsfDelete, "Delete"},
	ledger.EventHoldPlaced:            {ocsfCreate, "Create"},
	ledger.EventHoldReleased:          {ocsfUpdate, "Update"},
	ledger.EventErasure:               {ocsfDelete, "Delete"},
	ledger.EventTenantSettingsChanged: {ocsfUpdate, "Update"},
	ledger.EventPayloadKeyRotated:     {ocsfUpdate, "Update"},
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
	st := ocsfStatusOf(ev)
	resources := ocsfResources(ev)
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
		"severity_id":   st.severityID,
		"severity":      st.severity,
		"status_id":     st.statusID,
		"status":        st.status,
		"actor":         map[string]any{"user": map[string]any{"uid": actor, "name": actor}},
		"api":           api,
		"cloud":         map[string]any{"provider": "cairn"},
		"src_endpoint":  map[string]any{"svc_name": "cairn"},
		"metadata":      metadata,
		"unmapped": map[string]any{
			"cairn": map[string]any{"index": r.Index, "leaf_hash": r.LeafHash, "body": r.Body},
		},
	}
	if st.detail != "" {
		out["status_detail"] = st.detail
	}
	if len(resources) > 0 {
		out["resources"] = resources
	}
	return out, nil
}

// ocsfStatus is the status and severity of an OCSF record.
type ocsfStatus struct {
	statusID   int
	status     string
	severityID int
	severity   string
	detail     string
}

// ocsfStatusOf grades ev: a DENY, a rejected or expired approval and a
// FAILED state are failures; a DENY and a quarantined output are of medium
// severity; the detail names the decision, resolution or state.
func ocsfStatusOf(ev *Event) ocsfStatus {
	st := ocsfStatus{statusID: 1, status: "Success", severityID: 1, severity: "Informational"}
	switch {
	case ev.Decision == "DENY":
		st.statusID, st.status, st.detail = 2, "Failure", "DENY"
		st.severityID, st.severity = 3, "Medium"
	case ev.OutputSafety != nil && ev.OutputSafety.Decision == "QUARANTINE":
		st.detail = "QUARANTINE"
		st.severityID, st.severity = 3, "Medium"
	case ev.Resolution == "rejected" || ev.Resolution == "expired":
		st.statusID, st.status, st.detail = 2, "Failure", ev.Resolution
	case ev.State == "FAILED":
		st.statusID, st.status, st.detail = 2, "Failure", ev.State
	case ev.Decision != "":
		st.detail = ev.Decision
	case ev.Resolution != "":
		st.detail = ev.Resolution
	case ev.State != "":
		st.detail = ev.State
	}
	return st
}

// ocsfResources lists the Cairn ids ev names.
func ocsfResources(ev *Event) []ocsfResource {
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
	return resources
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
