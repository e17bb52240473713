package verify

import (
	"sort"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
)

// workflowTexts checks each workflow definition text against its id (step
// 7): the id is "wf:<tenant>:<name>#sha256:<hex>" of the bundle's tenant,
// the text's SHA-256 is that hex, and the text's name is the id's.
func (c *checker) workflowTexts() {
	c.workflows = map[string]*bundle.WorkflowText{}
	c.wfSum = map[string]string{}
	for i := range c.b.Workflows {
		w := &c.b.Workflows[i]
		rec := "workflow " + w.WorkflowID
		if _, dup := c.workflows[w.WorkflowID]; dup {
			c.fail(recordErr(rec, ErrFormat, "listed twice"))
			continue
		}
		c.rep.Workflows++
		c.workflows[w.WorkflowID] = w
		got := ledger.SHA256Hex([]byte(w.Text))
		c.wfSum[w.WorkflowID] = got
		tenant, name, want, err := ledger.WorkflowDigest(w.WorkflowID)
		if err != nil {
			c.fail(recordErr(rec, ErrWorkflow, "%v", trimLedger(err)))
			continue
		}
		if tenant != c.b.Tenant {
			c.fail(recordErr(rec, ErrWorkflow, "the id names tenant %q, the bundle is for %q", tenant, c.b.Tenant))
		}
		if got != want {
			c.fail(recordErr(rec, ErrWorkflow, "text hashes to %s, not to the workflow id", got))
		}
		if w.Name != name {
			c.fail(recordErr(rec, ErrWorkflow, "name %s, but the id names %s", show(w.Name), show(name)))
		}
	}
}

// workflowEntry checks an entry that refers to a workflow (step 8): the
// referenced text is in the bundle; a run event's data.workflow_version,
// when it has one, is the text's version; a workflow_registered entry is the
// only one of its workflow, its data.sha256 and data.name are the id's, and
// the text hashes to its data.sha256 and has its data.version.
func (c *checker) workflowEntry(idx uint64, body string, registered map[string]uint64, referenced map[string]bool) {
	ref, err := ledger.EntryWorkflowRef(body)
	if err != nil {
		c.fail(entryErr(idx, ErrBody, "%v", trimLedger(err)))
		return
	}
	if ref == nil {
		return
	}
	id := ref.WorkflowID
	referenced[id] = true
	w := c.workflows[id]
	if w == nil {
		hint := ""
		if c.b.Workflows == nil {
			hint = " (the bundle has no workflows member: it predates exports carrying workflow definitions; export it again)"
		}
		c.fail(entryErr(idx, ErrWorkflow, "workflow %s is referenced but its text is not in the bundle%s", id, hint))
	}
	if !ref.Registered {
		// A run records the version it ran: the text's version must agree.
		if w != nil && ref.RunVersion != 0 && w.Version != ref.RunVersion {
			c.fail(entryErr(idx, ErrWorkflow, "the run ran version %d of workflow %s, but its text in the bundle is version %d", ref.RunVersion, id, w.Version))
		}
		return
	}
	c.registeredWorkflow(idx, ref, w, registered)
}

// registeredWorkflow checks a workflow_registered entry: the only one of
// its workflow, its data.sha256 and data.name are the id's, and the text w
// (nil: not in the bundle) hashes to its data.sha256 and has its
// data.version.
func (c *checker) registeredWorkflow(idx uint64, ref *ledger.WorkflowRef, w *bundle.WorkflowText, registered map[string]uint64) {
	id := ref.WorkflowID
	if first, dup := registered[id]; dup {
		c.fail(entryErr(idx, ErrWorkflow, "workflow %s is already registered in entry %d", id, first))
		return
	}
	registered[id] = idx
	if _, name, want, err := ledger.WorkflowDigest(id); err != nil {
		c.fail(entryErr(idx, ErrWorkflow, "data.workflow_id: %v", trimLedger(err)))
	} else {
		if ref.SHA256 != want {
			c.fail(entryErr(idx, ErrWorkflow, "data.sha256 %s is not the sha256 in its workflow id %s", show(ref.SHA256), id))
		}
		if ref.Name != name {
			c.fail(entryErr(idx, ErrWorkflow, "data.name %s is not the name in its workflow id %s", show(ref.Name), id))
		}
	}
	if w == nil {
		return
	}
	rec := "workflow " + id
	if got := c.wfSum[id]; got != ref.SHA256 {
		c.fail(recordErr(rec, ErrWorkflow, "text hashes to %s, but its workflow_registered entry %d recorded sha256 %s", got, idx, show(ref.SHA256)))
	}
	if w.Version != ref.Version {
		c.fail(recordErr(rec, ErrWorkflow, "version %d, but its workflow_registered entry %d says %d", w.Version, idx, ref.Version))
	}
}

// unreferencedWorkflows notes workflow texts no entry refers to.
func (c *checker) unreferencedWorkflows(referenced map[string]bool) {
	var ids []string
	for id := range c.workflows {
		if !referenced[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		c.note("workflow %s is not referenced by any entry in the bundle; only its own hash was checked", id)
	}
}
