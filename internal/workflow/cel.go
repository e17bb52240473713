package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Limits on CEL expressions (conditions and the ${{ }} parts of templates).
// The environment is pinned (library versions fixed) so that a registered
// definition keeps compiling and evaluating the same way.
const (
	maxExprBytes          = 4096      // source length of one expression
	celCostLimit          = 1_000_000 // runtime cost units per evaluation
	celMaxDepth           = 32        // parser recursion limit
	maxNesting            = 8         // of literals, comprehensions and function calls
	maxComprehensionDepth = 4
	maxExprs              = 1000   // expressions in one definition
	maxNodes              = 25_000 // parsed AST nodes of all of them
	maxExprNodes          = 500    // parsed AST nodes of one
)

// The fields of steps.<id> and run.
var (
	viewFields = []string{"status", "result", "attempts", "job_id", "error"}
	runFields  = []string{"run_id", "workflow_id", "started_by"}
)

var (
	celEnvOnce sync.Once
	celEnvVal  *cel.Env
	celEnvErr  error
)

// celEnv is the shared environment; a cel.Env is safe for concurrent use.
func celEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnvVal, celEnvErr = cel.NewEnv(
			cel.Variable("input", cel.DynType),
			cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("run", cel.MapType(cel.StringType, cel.DynType)),
			cel.OptionalTypes(cel.OptionalTypesVersion(2)),
			ext.Strings(ext.StringsVersion(5)),
			cel.CrossTypeNumericComparisons(true),
			cel.DefaultUTCTimeZone(true),
			cel.ParserRecursionLimit(celMaxDepth),
			cel.ParserExpressionSizeLimit(maxExprBytes),
		)
	})
	return celEnvVal, celEnvErr
}

// program is one compiled expression.
type program struct {
	src   string
	field string // where it is in the definition, for evaluation errors
	prg   cel.Program
}

// refScope says which steps an expression may read.
type refScope struct {
	self    string          // the step the expression belongs to
	allowed map[string]bool // its transitive dependencies
	selfOK  bool            // the step itself too (compensation input)
	all     map[string]int  // every step id
	budget  *budget         // of the whole definition
	used    *Reads          // what the expressions compiled in this scope read
}

// Reads is what a step's expressions read: the steps they name, whether one
// uses the steps map as a whole (then it may read any step in its scope),
// and whether one reads the run input.
type Reads struct {
	Steps    map[string]bool
	AllSteps bool
	Input    bool
}

func (r *Reads) step(id string) {
	if r == nil {
		return
	}
	if r.Steps == nil {
		r.Steps = map[string]bool{}
	}
	r.Steps[id] = true
}

// budget bounds the CEL work of one Parse: type-checking costs more than
// linear time in an expression's size, so the definition's size alone does
// not bound it.
type budget struct {
	exprs int // expressions compiled so far
	nodes int // their parsed AST nodes (macros expanded)
}

// exprError is a compile problem inside an expression: line and column are
// 1-based within the expression (0 if unknown).
type exprError struct {
	line, column int
	msg          string
}

func (e *exprError) Error() string { return e.msg }

// compileExpr parses, type-checks and plans src. A condition must be bool
// (or dyn, checked when it runs).
func compileExpr(src, field string, sc *refScope, condition bool) (*program, *exprError) {
	if e := checkExprSize(src, sc.budget); e != nil {
		return nil, e
	}
	env, err := celEnv()
	if err != nil {
		return nil, &exprError{msg: "CEL environment: " + err.Error()}
	}
	parsed, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return nil, issueError(iss)
	}
	if e := checkNesting(parsed, sc.budget); e != nil {
		return nil, e
	}
	checked, iss := env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		return nil, issueError(iss)
	}
	if condition {
		t := checked.OutputType()
		if !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return nil, &exprError{msg: "a condition must be boolean, but this expression has type " + t.String()}
		}
	}
	if e := checkRefs(checked, src, sc); e != nil {
		return nil, e
	}
	prg, err := env.Program(checked, cel.CostLimit(celCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &exprError{msg: err.Error()}
	}
	return &program{src: src, field: field, prg: prg}, nil
}

// checkExprSize rejects an empty or too long expression, and one past the
// definition's expression budget b (nil: none), which it counts.
func checkExprSize(src string, b *budget) *exprError {
	if strings.TrimSpace(src) == "" {
		return &exprError{msg: "the expression is empty"}
	}
	if b != nil {
		if b.exprs++; b.exprs > maxExprs {
			return &exprError{msg: fmt.Sprintf("the definition has more than %d CEL expressions", maxExprs)}
		}
	}
	if len(src) > maxExprBytes {
		return &exprError{msg: fmt.Sprintf("the expression is %d bytes; the limit is %d", len(src), maxExprBytes)}
	}
	return nil
}

// issueError is the first error of iss, located when it can be.
func issueError(iss *cel.Issues) *exprError {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &exprError{msg: iss.Err().Error()}
	}
	e := &exprError{msg: errs[0].Message}
	if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
		e.line, e.column = loc.Line(), loc.Column()+1
	}
	return e
}

// checkNesting rejects a parsed expression too large or nested too deeply
// to type-check cheaply (type-checking deeply nested literals, calls and
// comprehensions costs far more than linear time; nothing a workflow needs
// nests them deeply), and counts its nodes against the budget b.
func checkNesting(parsed *cel.Ast, b *budget) *exprError {
	build, compr, nodes := nesting(parsed.NativeRep().Expr())
	if nodes > maxExprNodes {
		return &exprError{msg: fmt.Sprintf("the expression is too complex (%d parsed nodes; the limit is %d)", nodes, maxExprNodes)}
	}
	if b != nil {
		if b.nodes += nodes; b.nodes > maxNodes {
			return &exprError{msg: fmt.Sprintf("the definition's CEL expressions are too complex (more than %d parsed nodes in all)", maxNodes)}
		}
	}
	if compr > maxComprehensionDepth {
		return &exprError{msg: fmt.Sprintf("comprehensions (all, exists, map, filter, ...) are nested more than %d deep", maxComprehensionDepth)}
	}
	if build > maxNesting {
		return &exprError{msg: fmt.Sprintf("lists, maps and function calls are nested more than %d deep", maxNesting)}
	}
	return nil
}

// checkRefs checks every steps.<id> (steps["id"], steps.?id, steps[?"id"])
// names a step the expression may read, every field read from one is a
// field of a step view and every run.<key> is a field of run.
func checkRefs(checked *cel.Ast, src string, sc *refScope) *exprError {
	a := checked.NativeRep()
	rc := &refChecker{info: a.SourceInfo(), sc: sc}
	return rc.walk(a.Expr(), nil)
}

// refChecker walks a checked expression for checkRefs.
type refChecker struct {
	info *ast.SourceInfo
	sc   *refScope
}

// errAt is an error located at e.
func (rc *refChecker) errAt(e ast.Expr, format string, args ...any) *exprError {
	out := &exprError{msg: fmt.Sprintf(format, args...)}
	if loc := rc.info.GetStartLocation(e.ID()); loc.Line() > 0 {
		out.line, out.column = loc.Line(), loc.Column()+1
	}
	return out
}

// isVar reports whether e is the variable name, not shadowed by a
// comprehension variable.
func isVar(e ast.Expr, name string, shadowed map[string]bool) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name && !shadowed[name]
}

// memberAccess reports a constant member access: x.f, x.?f, x["f"], x[?"f"].
func memberAccess(e ast.Expr) (operand ast.Expr, key string, ok bool) {
	switch e.Kind() {
	case ast.SelectKind:
		s := e.AsSelect()
		return s.Operand(), s.FieldName(), true
	case ast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case "_[_]", "_[?_]", "_?._":
			args := c.Args()
			if len(args) == 2 && args[1].Kind() == ast.LiteralKind {
				if s, isStr := args[1].AsLiteral().(types.String); isStr {
					return args[0], string(s), true
				}
			}
		}
	}
	return nil, "", false
}

// stepRef reports whether e is steps.<id> and returns the id.
func stepRef(e ast.Expr, shadowed map[string]bool) (string, bool) {
	op, key, ok := memberAccess(e)
	if ok && isVar(op, "steps", shadowed) {
		return key, true
	}
	return "", false
}

// checkAccess checks e when it is a constant member access of steps, run or
// a step view; done reports that e's operand needs no walk (it is the steps
// variable itself).
func (rc *refChecker) checkAccess(e ast.Expr, shadowed map[string]bool) (err *exprError, done bool) {
	op, key, ok := memberAccess(e)
	if !ok {
		return nil, false
	}
	switch {
	case isVar(op, "steps", shadowed):
		if err := checkStepRef(key, rc.sc); err != "" {
			return rc.errAt(e, "%s", err), true
		}
		rc.sc.used.step(key)
		return nil, true
	case isVar(op, "run", shadowed):
		if !slices.Contains(runFields, key) {
			return rc.errAt(e, "run has no field %q; its fields are %s", truncate(key, 80), strings.Join(runFields, ", ")), true
		}
	default:
		if id, isStep := stepRef(op, shadowed); isStep && !slices.Contains(viewFields, key) {
			return rc.errAt(e, "steps.%s has no field %q; its fields are %s", id, truncate(key, 80), strings.Join(viewFields, ", ")), true
		}
	}
	return nil, false
}

// noteIdent records a read of the steps map as a whole or of the input.
func (rc *refChecker) noteIdent(e ast.Expr, shadowed map[string]bool) {
	if rc.sc.used == nil {
		return
	}
	switch {
	case isVar(e, "steps", shadowed):
		rc.sc.used.AllSteps = true // the map as a whole
	case isVar(e, "input", shadowed):
		rc.sc.used.Input = true
	}
}

func (rc *refChecker) walk(e ast.Expr, shadowed map[string]bool) *exprError {
	if err, done := rc.checkAccess(e, shadowed); err != nil || done {
		return err
	}
	switch e.Kind() {
	case ast.IdentKind:
		rc.noteIdent(e, shadowed)
	case ast.ComprehensionKind:
		return rc.walkComprehension(e.AsComprehension(), shadowed)
	default:
		return rc.walkAll(subExprs(e), shadowed)
	}
	return nil
}

// walkAll walks es in order and stops at the first error.
func (rc *refChecker) walkAll(es []ast.Expr, shadowed map[string]bool) *exprError {
	for _, sub := range es {
		if err := rc.walk(sub, shadowed); err != nil {
			return err
		}
	}
	return nil
}

// walkComprehension walks a comprehension; its variables named steps or
// run shadow those in the loop and the result.
func (rc *refChecker) walkComprehension(c ast.ComprehensionExpr, shadowed map[string]bool) *exprError {
	if err := rc.walkAll([]ast.Expr{c.IterRange(), c.AccuInit()}, shadowed); err != nil {
		return err
	}
	inner := shadowed
	for _, v := range []string{c.IterVar(), c.IterVar2(), c.AccuVar()} {
		if v == "steps" || v == "run" {
			inner = maps2(inner, v)
		}
	}
	return rc.walkAll([]ast.Expr{c.LoopCondition(), c.LoopStep(), c.Result()}, inner)
}

// subExprs lists the sub-expressions of a select, call, list, map or
// struct expression in evaluation order.
func subExprs(e ast.Expr) []ast.Expr {
	switch e.Kind() {
	case ast.SelectKind:
		return []ast.Expr{e.AsSelect().Operand()}
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			return append([]ast.Expr{c.Target()}, c.Args()...)
		}
		return c.Args()
	case ast.ListKind:
		return e.AsList().Elements()
	case ast.MapKind:
		var out []ast.Expr
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			out = append(out, me.Key(), me.Value())
		}
		return out
	case ast.StructKind:
		var out []ast.Expr
		for _, f := range e.AsStruct().Fields() {
			out = append(out, f.AsStructField().Value())
		}
		return out
	}
	return nil
}

// flatOps are the operators that do not build a more deeply nested type
// than their operands; chains of them (a + b + c, x[0][1]) cost the type
// checker little however deep.
var flatOps = map[string]bool{
	"_+_": true, "_-_": true, "_*_": true, "_/_": true, "_%_": true, "-_": true, "!_": true,
	"_&&_": true, "_||_": true, "_==_": true, "_!=_": true, "_<_": true, "_<=_": true,
	"_>_": true, "_>=_": true, "@in": true, "_?_:_": true, "_[_]": true, "_[?_]": true, "_?._": true,
}

// nesting returns the deepest nesting in e of type-building expressions
// (list, map and message literals, comprehensions, function calls other
// than flatOps), that of comprehensions alone and the number of nodes. Type-checking costs grow much
// faster than linearly with them.
func nesting(e ast.Expr) (build, compr, nodes int) {
	var walk func(e ast.Expr, b, c int)
	walk = func(e ast.Expr, b, c int) {
		nodes++
		switch e.Kind() {
		case ast.ComprehensionKind:
			b, c = b+1, c+1
			build, compr = max(build, b), max(compr, c)
			x := e.AsComprehension()
			for _, sub := range []ast.Expr{x.IterRange(), x.AccuInit(), x.LoopCondition(), x.LoopStep(), x.Result()} {
				walk(sub, b, c)
			}
		case ast.SelectKind:
			walk(e.AsSelect().Operand(), b, c)
		case ast.CallKind:
			x := e.AsCall()
			if !flatOps[x.FunctionName()] {
				b++
				build = max(build, b)
			}
			if x.IsMemberFunction() {
				walk(x.Target(), b, c)
			}
			for _, a := range x.Args() {
				walk(a, b, c)
			}
		case ast.ListKind:
			build = max(build, b+1)
			for _, el := range e.AsList().Elements() {
				walk(el, b+1, c)
			}
		case ast.MapKind:
			build = max(build, b+1)
			for _, en := range e.AsMap().Entries() {
				walk(en.AsMapEntry().Key(), b+1, c)
				walk(en.AsMapEntry().Value(), b+1, c)
			}
		case ast.StructKind:
			build = max(build, b+1)
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), b+1, c)
			}
		}
	}
	walk(e, 0, 0)
	return build, compr, nodes
}

// maps2 returns a copy of m with k set.
func maps2(m map[string]bool, k string) map[string]bool {
	out := map[string]bool{k: true}
	for x := range m {
		out[x] = true
	}
	return out
}

// checkStepRef returns why an expression may not read steps.<id>, or "".
func checkStepRef(id string, sc *refScope) string {
	if sc.allowed[id] || (sc.selfOK && id == sc.self) {
		return ""
	}
	if _, ok := sc.all[id]; !ok {
		msg := fmt.Sprintf("steps.%s names no step of this workflow", truncate(id, 80))
		ids := make([]string, 0, len(sc.all))
		for k := range sc.all {
			ids = append(ids, k)
		}
		slices.Sort(ids)
		if s := nearest(id, ids); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return msg
	}
	if id == sc.self {
		return fmt.Sprintf("steps.%s is step %q itself, whose result is not known before it runs", id, id)
	}
	return fmt.Sprintf("steps.%s is not among the dependencies of step %q; add %q to its depends_on (directly or through a step it depends on)", id, sc.self, id)
}

// ---------------------------------------------------------------------------
// Evaluation

// activation resolves input, steps and run for one rendering or condition;
// each is built on first use.
type activation struct {
	sc    *Scope
	input any
	steps map[string]any
	run   map[string]any
	err   error
	done  uint8 // bit 0: input, bit 1: steps
}

func newActivation(sc *Scope) *activation { return &activation{sc: sc} }

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "input":
		if a.done&1 == 0 {
			a.done |= 1
			v, err := jsonValue(a.sc.Input)
			if err != nil {
				a.err = fmt.Errorf("input: %w", err)
				return types.NewErr("input: %v", err), true
			}
			a.input = v
		}
		if a.input == nil {
			return types.NullValue, true
		}
		return a.input, true
	case "steps":
		if a.done&2 == 0 {
			a.done |= 2
			a.steps = make(map[string]any, len(a.sc.Steps))
			for id, v := range a.sc.Steps {
				res, err := jsonValue(v.Result)
				if err != nil {
					a.err = fmt.Errorf("steps.%s.result: %w", id, err)
					return types.NewErr("steps.%s.result: %v", id, err), true
				}
				a.steps[id] = map[string]any{
					"status":   v.Status,
					"result":   res,
					"attempts": int64(v.Attempts),
					"job_id":   v.JobID,
					"error":    v.Error,
				}
			}
		}
		return a.steps, true
	case "run":
		if a.run == nil {
			r := a.sc.Run
			a.run = map[string]any{"run_id": r.RunID, "workflow_id": r.WorkflowID, "started_by": r.StartedBy}
		}
		return a.run, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// jsonValue makes v fit for CEL: json.RawMessage is decoded (numbers become
// float64, as json.Unmarshal makes them), json.Number becomes a float64 (an
// int64 when it is a whole number beyond ±2^53 that float64 cannot hold
// exactly). Values without either are returned without copying.
func jsonValue(v any) (any, error) {
	out, _, err := normalize(v, 0)
	return out, err
}

const maxValueDepth = 10000

func normalize(v any, depth int) (any, bool, error) {
	if depth > maxValueDepth {
		return nil, false, errors.New("value is nested too deeply")
	}
	switch x := v.(type) {
	case json.RawMessage:
		if len(x) == 0 {
			return nil, true, nil
		}
		var out any
		if err := json.Unmarshal(x, &out); err != nil {
			return nil, false, errors.New("not valid JSON")
		}
		return out, true, nil
	case json.Number:
		return normalizeNumber(x)
	case map[string]any:
		return normalizeMap(x, depth)
	case []any:
		return normalizeSlice(x, depth)
	}
	return v, false, nil
}

// normalizeNumber is x as a float64, or as an int64 when it is an integer
// too large for a float64 to hold exactly.
func normalizeNumber(x json.Number) (any, bool, error) {
	f, err := x.Float64()
	if err != nil {
		return nil, false, fmt.Errorf("number %q out of range", truncate(string(x), 40))
	}
	if math.Abs(f) >= 1<<53 && !strings.ContainsAny(string(x), ".eE") {
		if i, err := x.Int64(); err == nil {
			return i, true, nil
		}
	}
	return f, true, nil
}

// normalizeMap normalizes x's values, copying x only if one changes.
func normalizeMap(x map[string]any, depth int) (any, bool, error) {
	var cp map[string]any
	for k, e := range x {
		ne, changed, err := normalize(e, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed {
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
		return cp, true, nil
	}
	return x, false, nil
}

// normalizeSlice normalizes x's elements, copying x only if one changes.
func normalizeSlice(x []any, depth int) (any, bool, error) {
	var cp []any
	for i, e := range x {
		ne, changed, err := normalize(e, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed {
			if cp == nil {
				cp = slices.Clone(x)
			}
			cp[i] = ne
		}
	}
	if cp != nil {
		return cp, true, nil
	}
	return x, false, nil
}

// eval runs p; it never panics.
func (p *program) eval(act *activation) (out ref.Val, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%s: evaluation aborted: %v", p.field, r)
		}
	}()
	out, _, err = p.prg.Eval(act)
	if act.err != nil {
		return nil, fmt.Errorf("%s: %w", p.field, act.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p.field, strconv.Quote(truncate(oneLine(p.src), 120)), err)
	}
	if types.IsUnknownOrError(out) {
		return nil, fmt.Errorf("%s: %s: %v", p.field, strconv.Quote(truncate(oneLine(p.src), 120)), out)
	}
	return out, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (s *Step) hasCondition() bool { return s.cond != nil }

func (s *Step) condition(sc Scope) (bool, error) {
	if s.cond == nil {
		return true, nil
	}
	out, err := s.cond.eval(newActivation(&sc))
	if err != nil {
		return false, err
	}
	if o, ok := out.(*types.Optional); ok && o.HasValue() {
		out = o.GetValue()
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: the condition evaluated to %s, not a bool", s.cond.field, out.Type().TypeName())
	}
	return bool(b), nil
}
