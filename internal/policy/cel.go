package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/cairnhq/cairn"
)

// Limits on `when` expressions. A published bundle must keep compiling and
// evaluating the same way forever (rollback re-compiles old snapshots), so
// the environment below is pinned: library versions are fixed, not "latest".
const (
	maxExprBytes = 4096    // source length of one `when`
	celCostLimit = 100_000 // runtime cost units per evaluation of one `when`
	celMaxDepth  = 64      // parser recursion limit

	// celInterruptEvery is how many comprehension iterations run between
	// looks at the evaluation's context.
	celInterruptEvery = 100

	// maxInputWeight bounds the size of the input a `when` may read. CEL
	// charges a comparison of two lists or maps by their lengths, not by
	// the size of everything nested in them, so over a large enough input
	// the cost limit no longer bounds the work. A `when` that reads an
	// input heavier than this is not run: it fails as over the cost limit.
	// See inputWeight.
	maxInputWeight = celCostLimit
)

// job is what `job` is in a `when` expression. It is a CEL object type
// (policy.job), so a typo such as job.actoin is a compile-time error, not a
// silently unmatched rule.
type job struct {
	JobID          string            `cel:"job_id"`
	RunID          string            `cel:"run_id"`
	WorkflowStepID string            `cel:"workflow_step_id"`
	Action         string            `cel:"action"`
	Resource       string            `cel:"resource"`
	Labels         map[string]string `cel:"labels"`
	RiskTags       []string          `cel:"risk_tags"`
	Tenant         string            `cel:"tenant"`
}

// principal is what `principal` is in a `when` expression (policy.principal).
type principal struct {
	ID     string   `cel:"id"`
	Kind   string   `cel:"kind"`
	Roles  []string `cel:"roles"`
	Tenant string   `cel:"tenant"`
}

var (
	celEnvOnce sync.Once
	celEnvVal  *cel.Env
	celEnvErr  error
)

// celEnv is the one shared environment; cel.Env is safe for concurrent use.
func celEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnvVal, celEnvErr = cel.NewEnv(
			ext.NativeTypes(reflect.TypeFor[job](), reflect.TypeFor[principal](), ext.ParseStructTags(true)),
			cel.Variable("job", cel.ObjectType("policy.job")),
			cel.Variable("principal", cel.ObjectType("policy.principal")),
			cel.Variable("labels", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("input", cel.DynType),
			cel.Variable("now", cel.TimestampType),
			cel.OptionalTypes(cel.OptionalTypesVersion(2)),
			ext.Strings(ext.StringsVersion(4)),
			cel.CrossTypeNumericComparisons(true),
			cel.DefaultUTCTimeZone(true),
			cel.ParserRecursionLimit(celMaxDepth),
			cel.ParserExpressionSizeLimit(maxExprBytes),
		)
	})
	return celEnvVal, celEnvErr
}

// compiledWhen is a planned `when` and what it reads.
type compiledWhen struct {
	prg        cel.Program
	readsInput bool // the expression names the variable input
}

// readsInput reports whether a checked expression names the variable input.
func readsInput(checked *cel.Ast) bool {
	found := false
	ast.PreOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.IdentKind && e.AsIdent() == "input" {
			found = true
		}
	}))
	return found
}

// celIssue is one CEL compile problem with its position inside the expression.
type celIssue struct {
	kind    issueKind
	line    int // 1-based line inside the expression (0 if unknown)
	column  int // 1-based column inside the expression (0 if unknown)
	message string
}

type issueKind uint8

const (
	issueType   issueKind = iota // type-check error
	issueSyntax                  // parse error
	issueResult                  // not a bool
	issueOther
)

// compileWhen parses and type-checks expr and plans a program for it. Every
// program runs under the cost limit and can be interrupted through the
// context it is evaluated with.
func compileWhen(expr string) (compiledWhen, *celIssue) {
	env, err := celEnv()
	if err != nil {
		return compiledWhen{}, &celIssue{kind: issueOther, message: "CEL environment: " + err.Error()}
	}
	parsed, iss := env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return compiledWhen{}, firstIssue(iss, issueSyntax)
	}
	checked, iss := env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		return compiledWhen{}, firstIssue(iss, issueType)
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		name := t.String()
		hint := ""
		if t.IsExactType(cel.DynType) {
			hint = "; compare it explicitly, e.g. `(" + oneLine(expr) + ") == true`"
		}
		return compiledWhen{}, &celIssue{kind: issueResult, message: "must evaluate to bool, but has type " + name + hint}
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(celCostLimit),
		cel.InterruptCheckFrequency(celInterruptEvery))
	if err != nil {
		return compiledWhen{}, &celIssue{kind: issueOther, message: err.Error()}
	}
	return compiledWhen{prg: prg, readsInput: readsInput(checked)}, nil
}

func firstIssue(iss *cel.Issues, kind issueKind) *celIssue {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &celIssue{kind: kind, message: iss.Err().Error()}
	}
	e := errs[0]
	out := &celIssue{kind: kind, message: e.Message}
	if loc := e.Location; loc != nil && loc.Line() > 0 {
		out.line = loc.Line()
		out.column = loc.Column() + 1 // CEL columns are 0-based
	}
	return out
}

// activation resolves the CEL variables for one evaluation. Values are built
// only when an expression asks for them.
type activation struct {
	ctx       context.Context
	in        *cairn.PolicyInput
	now       time.Time
	job       *job
	principal *principal
	input     any
	inputDone bool
	weight    int // inputWeight of the input, -1 until computed
}

var (
	emptyLabels = map[string]string{}
	emptyTags   = []string{}
)

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "job":
		if a.job == nil {
			in := a.in
			a.job = &job{
				JobID: in.JobID, RunID: in.RunID, WorkflowStepID: in.WorkflowStepID,
				Action: in.Action, Resource: in.Resource, Labels: nonNilLabels(in.Labels),
				RiskTags: nonNilTags(in.RiskTags), Tenant: in.Tenant,
			}
		}
		return a.job, true
	case "principal":
		if a.principal == nil {
			p := a.in.Principal
			a.principal = &principal{ID: p.ID, Kind: p.Kind, Roles: nonNilTags(p.Roles), Tenant: p.Tenant}
		}
		return a.principal, true
	case "labels":
		return nonNilLabels(a.in.Labels), true
	case "input":
		a.loadInput()
		if a.input == nil {
			return types.NullValue, true
		}
		return a.input, true
	case "now":
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) loadInput() {
	if !a.inputDone {
		a.input = normalizeJSON(a.in.Input)
		a.inputDone = true
	}
}

// inputTooHeavy reports whether the input weighs more than maxInputWeight.
func (a *activation) inputTooHeavy() bool {
	if a.weight < 0 {
		a.loadInput()
		a.weight = inputWeight(a.input, maxInputWeight+1)
	}
	return a.weight > maxInputWeight
}

// errInputTooHeavy is the evaluation error of a `when` that reads an input
// heavier than maxInputWeight.
var errInputTooHeavy = fmt.Errorf("input is too large to evaluate within the cost limit: it weighs more than %d (one unit per JSON value and object key, one per 10 bytes of text)", maxInputWeight)

// inputWeight measures a decoded JSON value: one unit per value and per
// object key, plus one per 10 bytes of every string and key (CEL's string
// traversal factor). It stops counting once the weight exceeds limit.
func inputWeight(v any, limit int) int {
	w := 0
	var walk func(v any)
	walk = func(v any) {
		if w > limit {
			return
		}
		w++
		switch x := v.(type) {
		case string:
			w += len(x) / 10
		case json.Number:
			w += len(x) / 10
		case map[string]any:
			for k, e := range x {
				w += 1 + len(k)/10
				walk(e)
				if w > limit {
					return
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
				if w > limit {
					return
				}
			}
		}
	}
	walk(v)
	return w
}

func nonNilLabels(m map[string]string) map[string]string {
	if m == nil {
		return emptyLabels
	}
	return m
}

func nonNilTags(s []string) []string {
	if s == nil {
		return emptyTags
	}
	return s
}

// normalizeJSON returns v with every json.Number replaced by an int64 (when
// it is an integer that fits) or a float64, so that inputs decoded with
// json.Decoder.UseNumber compare as numbers in CEL. Values without
// json.Number are returned as they are, without copying.
func normalizeJSON(v any) any {
	out, _ := normalize(v)
	return out
}

func normalize(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		return normalizeNumber(string(x)), true
	case map[string]any:
		return normalizeMap(x)
	case []any:
		return normalizeSlice(x)
	case json.RawMessage:
		var d any
		dec := json.NewDecoder(strings.NewReader(string(x)))
		dec.UseNumber()
		if err := dec.Decode(&d); err != nil {
			return nil, true
		}
		n, _ := normalize(d)
		return n, true
	}
	return v, false
}

// normalizeNumber is s as an int64 when it is an integer that fits,
// otherwise as a float64 (or the string itself if it is neither).
func normalizeNumber(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// normalizeMap normalizes x's values, copying x only if one changes.
func normalizeMap(x map[string]any) (any, bool) {
	var cp map[string]any
	for k, e := range x {
		if ne, changed := normalize(e); changed {
			if cp == nil {
				cp = make(map[string]any, len(x))
				for k2, e2 := range x {
					cp[k2] = e2
				}
			}
			cp[k] = ne
		}
	}
	if cp != nil {
		return cp, true
	}
	return x, false
}

// normalizeSlice normalizes x's elements, copying x only if one changes.
func normalizeSlice(x []any) (any, bool) {
	var cp []any
	for i, e := range x {
		if ne, changed := normalize(e); changed {
			if cp == nil {
				cp = append([]any(nil), x...)
			}
			cp[i] = ne
		}
	}
	if cp != nil {
		return cp, true
	}
	return x, false
}

// evalWhen runs a compiled `when`. It never panics: an evaluation error (a
// missing key, a type mismatch at runtime, the cost limit, the end of the
// activation's context) is returned as err.
func evalWhen(prg cel.Program, act *activation) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("evaluation aborted: %v", r)
		}
	}()
	var out ref.Val
	if act.ctx.Done() == nil {
		out, _, err = prg.Eval(act) // a context that never ends: no interrupt checks
	} else {
		out, _, err = prg.ContextEval(act.ctx, act)
	}
	if err != nil {
		return false, err
	}
	b, isBool := out.Value().(bool)
	if !isBool {
		return false, fmt.Errorf("result is %s, not bool", out.Type().TypeName())
	}
	return b, nil
}

// oneLine collapses runs of white space so an expression reads as one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
