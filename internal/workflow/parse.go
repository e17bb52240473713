package workflow

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/yamlcheck"
)

// Parse limits beyond the exported ones.
const (
	maxDepth         = 64                  // YAML nesting
	maxDuration      = 30 * 24 * time.Hour // timeouts and expires_in
	maxBackoff       = 24 * time.Hour      // backoff and max_backoff
	maxQuorum        = 20
	maxAttempts      = 100
	maxTextBytes     = 4096 // descriptions
	maxResourceBytes = 1024
	maxActionBytes   = 256
	maxLabels        = 64
	maxLabelValue    = 256
	maxRiskTags      = 32
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	idRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

// Known keys, in the order the messages list them.
var (
	topKeys        = []string{"name", "description", "timeout", "steps"}
	stepKeys       = []string{"id", "description", "action", "resource", "labels", "risk_tags", "input", "depends_on", "condition", "gate", "retry", "timeout", "on_failure"}
	gateKeys       = []string{"approver_roles", "quorum", "expires_in"}
	retryKeys      = []string{"max_attempts", "backoff", "max_backoff"}
	onFailureKeys  = []string{"compensate"}
	compensateKeys = []string{"action", "resource", "input"}
)

// errAt builds the one error type Parse returns; a known line is also
// named at the start of the message.
func errAt(line int, field, format string, args ...any) *cairn.Error {
	return yamlcheck.NewError(cairn.CodeWorkflowInvalid, line, field, fmt.Sprintf(format, args...))
}

// errMsg is errAt as a yamlcheck.ErrorFunc.
func errMsg(line int, field, msg string) *cairn.Error {
	return yamlcheck.NewError(cairn.CodeWorkflowInvalid, line, field, msg)
}

func nodeErr(n *yaml.Node, field, format string, args ...any) *cairn.Error {
	return errAt(yamlcheck.Line(n), field, format, args...)
}

// rawStep is a step between the two passes of parse: the first reads every
// step's fields, the second resolves dependencies and compiles CEL.
type rawStep struct {
	s         *Step
	field     string
	deps      []*yaml.Node // depends_on items
	depsNode  *yaml.Node
	cond      *yaml.Node
	input     *yaml.Node
	compInput *yaml.Node
}

func parse(text []byte) (def *Definition, err error) {
	root, err := definitionRoot(text)
	if err != nil {
		return nil, err
	}
	top, err := mapOf(root, "", "definition", topKeys)
	if err != nil {
		return nil, err
	}
	d := &Definition{}
	if err := readHeader(d, root, top); err != nil {
		return nil, err
	}
	items, err := stepItems(root, top)
	if err != nil {
		return nil, err
	}
	raws, index, err := readSteps(items)
	if err != nil {
		return nil, err
	}
	if err := resolveDeps(raws, index); err != nil {
		return nil, err
	}
	order, err := topoOrder(raws, index)
	if err != nil {
		return nil, err
	}
	d.Steps = make([]*Step, len(raws))
	d.byID = make(map[string]*Step, len(raws))
	for i, r := range raws {
		d.Steps[i] = r.s
		d.byID[r.s.ID] = r.s
	}
	d.Order = make([]string, len(order))
	for k, i := range order {
		d.Order[k] = raws[i].s.ID
	}
	setAncestors(raws, index, order)
	var b budget
	for _, r := range raws {
		if err := compileStep(r, index, &b); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// definitionRoot checks the definition's size and YAML and returns its root
// node, a mapping.
func definitionRoot(text []byte) (*yaml.Node, error) {
	if len(text) > MaxBytes {
		return nil, errAt(0, "", "definition is %d bytes; the limit is %d bytes", len(text), MaxBytes)
	}
	if err := yamlcheck.CheckText(text, false, errMsg); err != nil {
		return nil, err
	}
	root, err := decodeYAML(text)
	if err != nil {
		return nil, err
	}
	if err := yamlcheck.CheckTree(root, "", treeRules, errMsg); err != nil {
		return nil, err
	}
	if isNull(root) {
		return nil, errAt(explicitLine(root), "", "definition is empty")
	}
	if root.Kind != yaml.MappingNode {
		return nil, nodeErr(root, "", "definition must be a mapping with keys %s; found %s", strings.Join(topKeys, ", "), kindName(root))
	}
	return root, nil
}

// readHeader reads the definition's name, description and timeout.
func readHeader(d *Definition, root *yaml.Node, top *mapNode) error {
	p, ok := top.by["name"]
	if !ok {
		return nodeErr(root, "name", "name is required")
	}
	var err error
	if d.Name, err = scalar(p.val, "name", "name"); err != nil {
		return err
	}
	if !nameRe.MatchString(d.Name) {
		return nodeErr(p.val, "name", "name %q is invalid; use 1 to 64 of a-z 0-9 . _ - starting with a letter or digit", truncate(d.Name, 80))
	}
	if p, ok := top.by["description"]; ok {
		if d.Description, err = freeText(p.val, "description", maxTextBytes, true); err != nil {
			return err
		}
	}
	if p, ok := top.by["timeout"]; ok {
		if d.Timeout, err = duration(p.val, "timeout", maxDuration); err != nil {
			return err
		}
	}
	return nil
}

// stepItems returns the nodes of the steps list: present, a list, not
// empty and within MaxSteps.
func stepItems(root *yaml.Node, top *mapNode) ([]*yaml.Node, error) {
	p, ok := top.by["steps"]
	if !ok || isNull(p.val) {
		n := root
		if ok {
			n = p.val
		}
		return nil, nodeErr(n, "steps", "steps is required: a list of at least one step")
	}
	if p.val.Kind != yaml.SequenceNode {
		return nil, nodeErr(p.val, "steps", "steps must be a list of steps, found %s", kindName(p.val))
	}
	items := p.val.Content
	if len(items) == 0 {
		return nil, nodeErr(p.val, "steps", "steps must not be empty")
	}
	if len(items) > MaxSteps {
		return nil, nodeErr(p.val, "steps", "%d steps; the limit is %d", len(items), MaxSteps)
	}
	return items, nil
}

// readSteps reads every step (first pass) and indexes them by id; ids must
// be unique.
func readSteps(items []*yaml.Node) ([]*rawStep, map[string]int, error) {
	raws := make([]*rawStep, len(items))
	index := make(map[string]int, len(items))
	for i, n := range items {
		r, err := readStep(n, "steps["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, nil, err
		}
		if j, dup := index[r.s.ID]; dup {
			return nil, nil, errAt(r.s.Line, r.field+".id", "duplicate step id %q (first used by steps[%d], line %d)", r.s.ID, j, raws[j].s.Line)
		}
		index[r.s.ID] = i
		raws[i] = r
	}
	return raws, index, nil
}

// readStep is the first pass over one step: every field but the
// references to other steps.
func readStep(n *yaml.Node, field string) (*rawStep, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "a step must be a mapping with at least id and action; found %s", kindName(n))
	}
	m, err := mapOf(n, field, "step", stepKeys)
	if err != nil {
		return nil, err
	}
	s := &Step{Line: n.Line, Retry: Retry{MaxAttempts: 1}, OnFailure: OnFailure{Mode: FailRun}}
	r := &rawStep{s: s, field: field}

	p, ok := m.by["id"]
	if !ok {
		return nil, nodeErr(n, field+".id", "step id is required")
	}
	if s.ID, err = scalar(p.val, field+".id", "id"); err != nil {
		return nil, err
	}
	if !idRe.MatchString(s.ID) {
		return nil, nodeErr(p.val, field+".id", "step id %q is invalid; use 1 to 64 of A-Z a-z 0-9 _ - starting with a letter or digit", truncate(s.ID, 80))
	}
	p, ok = m.by["action"]
	if !ok {
		return nil, nodeErr(n, field+".action", "step %q has no action; action is required", s.ID)
	}
	if s.Action, err = action(p.val, field+".action"); err != nil {
		return nil, err
	}
	for _, p := range m.list {
		if err := r.readField(p.key.Value, p.val, field+"."+p.key.Value); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// readField reads the step field key (value v, at field f); id and action
// are read before.
func (r *rawStep) readField(key string, v *yaml.Node, f string) error {
	s := r.s
	var err error
	switch key {
	case "description":
		s.Description, err = freeText(v, f, maxTextBytes, true)
	case "resource":
		s.Resource, err = freeText(v, f, maxResourceBytes, false)
	case "labels":
		s.Labels, err = labels(v, f)
	case "risk_tags":
		s.RiskTags, err = riskTags(v, f)
	case "input":
		r.input = v
	case "depends_on":
		r.depsNode = v
		r.deps, err = list(v, f, "depends_on")
	case "condition":
		r.cond = v
	case "gate":
		s.Gate, err = gate(v, f)
	case "retry":
		s.Retry, err = retry(v, f)
	case "timeout":
		s.Timeout, err = duration(v, f, maxDuration)
	case "on_failure":
		s.OnFailure, r.compInput, err = onFailure(v, f)
	}
	return err
}

// resolveDeps checks every depends_on item names another, existing step.
func resolveDeps(raws []*rawStep, index map[string]int) error {
	for _, r := range raws {
		seen := map[string]int{}
		for j, item := range r.deps {
			f := r.field + ".depends_on"
			if r.depsNode.Kind == yaml.SequenceNode {
				f += "[" + strconv.Itoa(j) + "]"
			}
			id, err := scalar(item, f, "a depends_on item")
			if err != nil {
				return err
			}
			if id == r.s.ID {
				return nodeErr(item, f, "step %q depends on itself: depends_on forms a cycle: %s -> %s", id, id, id)
			}
			if _, ok := index[id]; !ok {
				msg := fmt.Sprintf("depends_on names %q, which is not a step of this workflow", truncate(id, 80))
				if s := nearest(id, stepIDs(raws)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return nodeErr(item, f, "%s", msg)
			}
			if k, dup := seen[id]; dup {
				return nodeErr(item, f, "depends_on names %q twice (first as item %d)", id, k)
			}
			seen[id] = j
			r.s.DependsOn = append(r.s.DependsOn, id)
		}
	}
	return nil
}

func stepIDs(raws []*rawStep) []string {
	ids := make([]string, len(raws))
	for i, r := range raws {
		ids[i] = r.s.ID
	}
	return ids
}

func gate(n *yaml.Node, field string) (*Gate, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "gate must be a mapping (write gate: {} for one approver with role approver); found %s", kindName(n))
	}
	m, err := mapOf(n, field, "gate", gateKeys)
	if err != nil {
		return nil, err
	}
	g := &Gate{ApproverRoles: []string{cairn.RoleApprover}, Quorum: 1}
	for _, p := range m.list {
		f := field + "." + p.key.Value
		switch p.key.Value {
		case "approver_roles":
			g.ApproverRoles, err = approverRoles(p.val, f)
		case "quorum":
			g.Quorum, err = integer(p.val, f, 1, maxQuorum)
		case "expires_in":
			g.ExpiresIn, err = duration(p.val, f, maxDuration)
		}
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

// approverRoles reads gate.approver_roles: at least one known role, none
// twice.
func approverRoles(n *yaml.Node, f string) ([]string, error) {
	items, err := list(n, f, "approver_roles")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, nodeErr(n, f, "approver_roles must name at least one role")
	}
	roles := make([]string, 0, len(items))
	for j, item := range items {
		fj := f
		if n.Kind == yaml.SequenceNode {
			fj += "[" + strconv.Itoa(j) + "]"
		}
		role, err := scalar(item, fj, "a role")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(cairn.AllRoles, role) {
			msg := fmt.Sprintf("unknown role %q; roles are %s", truncate(role, 80), strings.Join(cairn.AllRoles, ", "))
			if s := nearest(role, cairn.AllRoles); s != "" {
				msg = fmt.Sprintf("unknown role %q (did you mean %q?); roles are %s", truncate(role, 80), s, strings.Join(cairn.AllRoles, ", "))
			}
			return nil, nodeErr(item, fj, "%s", msg)
		}
		if slices.Contains(roles, role) {
			return nil, nodeErr(item, fj, "role %q is listed twice", role)
		}
		roles = append(roles, role)
	}
	return roles, nil
}

func retry(n *yaml.Node, field string) (Retry, error) {
	r := Retry{MaxAttempts: 1}
	if n.Kind != yaml.MappingNode {
		return r, nodeErr(n, field, "retry must be a mapping with keys %s; found %s", strings.Join(retryKeys, ", "), kindName(n))
	}
	m, err := mapOf(n, field, "retry", retryKeys)
	if err != nil {
		return r, err
	}
	for _, p := range m.list {
		f := field + "." + p.key.Value
		switch p.key.Value {
		case "max_attempts":
			r.MaxAttempts, err = integer(p.val, f, 1, maxAttempts)
		case "backoff":
			r.Backoff, err = duration(p.val, f, maxBackoff)
		case "max_backoff":
			r.MaxBackoff, err = duration(p.val, f, maxBackoff)
		}
		if err != nil {
			return r, err
		}
	}
	if r.MaxBackoff > 0 && r.MaxBackoff < r.Backoff {
		p := m.by["max_backoff"]
		return r, nodeErr(p.val, field+".max_backoff", "max_backoff (%s) is less than backoff (%s)", r.MaxBackoff, r.Backoff)
	}
	return r, nil
}

// onFailure reads fail, continue or {compensate: {action, resource, input}}.
func onFailure(n *yaml.Node, field string) (OnFailure, *yaml.Node, error) {
	o := OnFailure{Mode: FailRun}
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return o, nil, nodeErr(n, field, "on_failure must be fail, continue or a compensate block; found null")
		}
		switch n.Value {
		case FailRun, Continue:
			o.Mode = n.Value
			return o, nil, nil
		case Compensate:
			return o, nil, nodeErr(n, field, "on_failure: compensate needs the compensating action; write on_failure: {compensate: {action: ...}}")
		}
		return o, nil, nodeErr(n, field, "on_failure must be fail, continue or a compensate block; found %q", truncate(n.Value, 80))
	case yaml.MappingNode:
	default:
		return o, nil, nodeErr(n, field, "on_failure must be fail, continue or a compensate block; found %s", kindName(n))
	}
	m, err := mapOf(n, field, "on_failure", onFailureKeys)
	if err != nil {
		return o, nil, err
	}
	p, ok := m.by["compensate"]
	if !ok {
		return o, nil, nodeErr(n, field+".compensate", "on_failure as a mapping must have a compensate block")
	}
	f := field + ".compensate"
	if p.val.Kind != yaml.MappingNode {
		return o, nil, nodeErr(p.val, f, "compensate must be a mapping with keys %s; found %s", strings.Join(compensateKeys, ", "), kindName(p.val))
	}
	c, err := mapOf(p.val, f, "compensate", compensateKeys)
	if err != nil {
		return o, nil, err
	}
	o.Mode = Compensate
	a, ok := c.by["action"]
	if !ok {
		return o, nil, nodeErr(p.val, f+".action", "compensate needs an action")
	}
	if o.Action, err = action(a.val, f+".action"); err != nil {
		return o, nil, err
	}
	if r, ok := c.by["resource"]; ok {
		if o.Resource, err = freeText(r.val, f+".resource", maxResourceBytes, false); err != nil {
			return o, nil, err
		}
	}
	var in *yaml.Node
	if i, ok := c.by["input"]; ok {
		in = i.val
	}
	return o, in, nil
}

// ---------------------------------------------------------------------------
// Text and YAML

// decodeYAML decodes exactly one YAML document into a node tree.
func decodeYAML(text []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, errAt(0, "", "not valid YAML")
		}
	}()
	doc, extra, err := yamlcheck.Decode(text)
	switch {
	case err != nil:
		return nil, yamlError(text, err)
	case doc == nil:
		return nil, errAt(0, "", "definition is empty")
	case extra != nil:
		return nil, nodeErr(extra, "", "more than one YAML document; a definition is exactly one")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errAt(0, "", "definition is empty")
	}
	return doc.Content[0], nil
}

// yamlError turns a yaml.v3 error into a 422 with the line it is about.
// yaml.v3 reports scanner errors at a 1-based line but parser errors at the
// 0-based line where the enclosing collection starts, and some errors with
// no line at all, so the reported line is only a lower bound: the line is
// the first one whose inclusion makes a prefix of the text fail with the
// same message.
func yamlError(text []byte, err error) error {
	reported, msg, _ := yamlcheck.SplitError(err)
	line := refineLine(text, msg, max(reported, 1))
	if line == 0 {
		line = max(reported, 1)
	}
	hint := ""
	if strings.Contains(msg, "tab") || (strings.Contains(msg, "cannot start any token") && lineHasTab(text, line)) {
		hint = "; indent with spaces, not tabs"
	}
	return errAt(line, "", "not valid YAML: %s%s", msg, hint)
}

func lineHasTab(text []byte, line int) bool {
	lines := bytes.Split(text, []byte("\n"))
	return line >= 1 && line <= len(lines) && bytes.IndexByte(lines[line-1], '\t') >= 0
}

// refineLine finds the shortest prefix of whole lines (from line lo on)
// that fails to decode with msg; 0 if none does.
func refineLine(text []byte, msg string, lo int) int {
	ends := yamlcheck.LineEnds(text)
	fails := func(line int) bool {
		return prefixError(text[:ends[line-1]]) == msg
	}
	n := len(ends)
	if lo > n {
		return 0
	}
	if fails(lo) {
		return lo
	}
	// The culprit is usually near lo: gallop to a failing prefix, then
	// bisect, parsing O(log distance) prefixes.
	hi := lo
	for step := 1; ; step *= 2 {
		lo, hi = hi+1, min(hi+step, n)
		if fails(hi) {
			break
		}
		if hi == n {
			return 0
		}
	}
	return yamlcheck.Bisect(lo, hi, fails)
}

// prefixError is the message (without "yaml: line N: ") of the first error
// decoding text, or "" (also if the decoder panics).
func prefixError(text []byte) (msg string) {
	defer func() {
		if recover() != nil {
			msg = ""
		}
	}()
	msg, _ = yamlcheck.FirstError(text)
	return msg
}

// treeRules are the checks on a definition's node tree before any value is
// read: at most maxDepth levels, no aliases, anchors, merge keys or custom
// tags. Aliases are refused outright: nothing in a definition needs them.
var treeRules = yamlcheck.TreeRules{
	MaxDepth:   maxDepth,
	NameLimit:  40,
	MergeKeys:  true,
	ChildField: childField,
}

// childField is the field path of n.Content[i]: a mapping value is named
// by its key, a list item by its index.
func childField(n *yaml.Node, field string, i int) string {
	switch n.Kind {
	case yaml.MappingNode:
		if k := n.Content[i-i%2]; i%2 == 1 && k.Kind == yaml.ScalarNode {
			return dataField(field, k.Value)
		}
	case yaml.SequenceNode:
		return field + "[" + strconv.Itoa(i) + "]"
	}
	return field
}
