// Package workflow parses, checks and evaluates workflow definitions: the
// YAML (or JSON) documents that declare a workflow's steps, their DAG, their
// approval gates, CEL conditions, input templates, retries, timeouts and
// failure handling. It knows nothing of the store or the engine: the service
// package registers definitions and advances runs with what this package
// compiles.
//
// THIS FILE IS THE CONTRACT between the package and the engine
// (service/workflows.go). Its exported names and semantics are fixed.
package workflow

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Definition is a compiled, checked workflow definition.
type Definition struct {
	Name        string
	Description string
	Timeout     time.Duration // whole run; 0 = none
	Steps       []*Step       // in declaration order
	// Order is the step ids in a topological order (dependencies first,
	// ties broken by declaration order).
	Order []string

	byID map[string]*Step
}

// Step is one step of a definition.
type Step struct {
	ID          string
	Description string
	Action      string
	Resource    string
	Labels      map[string]string
	RiskTags    []string
	DependsOn   []string // direct dependencies, as declared
	Gate        *Gate    // nil: no human checkpoint
	Retry       Retry
	Timeout     time.Duration // per attempt, from the attempt's job submission to its final state; 0 = none
	OnFailure   OnFailure
	// Line is the step's line in the definition text (for messages).
	Line int
	// condition, input template and compensation input are compiled and kept unexported.
	reads       Reads    // what cond and in read
	compReads   Reads    // what compIn reads
	cond        *program // nil: no condition
	in          *tmpl    // nil: no input (JSON null)
	compIn      *tmpl    // nil: no compensation input (JSON null)
	ancestors   []string // transitive dependencies, in Definition.Order
	ancestorSet map[string]bool
}

// Gate is a human checkpoint before a step's job is submitted.
type Gate struct {
	ApproverRoles []string      // default [approver]
	Quorum        int           // distinct approvers needed; default 1
	ExpiresIn     time.Duration // 0 = never
}

// Retry bounds a step's attempts. Attempt n (n >= 2) starts after
// Backoff * 2^(n-2), capped at MaxBackoff when MaxBackoff > 0.
type Retry struct {
	MaxAttempts int // >= 1; default 1 (no retry)
	Backoff     time.Duration
	MaxBackoff  time.Duration
}

// Failure modes.
const (
	FailRun    = "fail"       // the run fails (the default)
	Continue   = "continue"   // the step is failed but its dependents proceed
	Compensate = "compensate" // run the compensating action, then the run fails
)

// OnFailure says what a step's final failure does.
type OnFailure struct {
	Mode string // FailRun, Continue or Compensate
	// Compensating action (Mode == Compensate).
	Action   string
	Resource string
}

// Scope is what conditions and templates see.
//
//	input           the run input (any JSON value)
//	steps.<id>      {status, result, attempts, job_id, error} of every step
//	                the step depends on, directly or transitively
//	run             {run_id, workflow_id, started_by}
type Scope struct {
	Input any
	Steps map[string]StepView
	Run   RunView
}

// StepView is one earlier step as conditions and templates see it.
type StepView struct {
	Status   string // a cairn.Step* status
	Result   any    // the released (possibly redacted) result JSON; nil if none
	Attempts int
	JobID    string
	Error    string
}

// RunView identifies the run.
type RunView struct {
	RunID, WorkflowID, StartedBy string
}

// Parse compiles and checks a definition. Every problem is a *cairn.Error
// with Status 422, Code cairn.CodeWorkflowInvalid, Field naming the
// offending field (e.g. "steps[2].depends_on") and Line its line in text.
// It rejects, at least: text that is not YAML/JSON or over MaxBytes; a
// missing or invalid name (^[a-z0-9][a-z0-9._-]{0,63}$); no steps or more
// than MaxSteps; unknown keys (naming the nearest known one); duplicate or
// invalid step ids (^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$); a missing action;
// depends_on naming an unknown step or the step itself; a cycle (the
// message names it, e.g. "depends_on forms a cycle: a -> b -> c -> a");
// conditions and templates that do not compile or type-check as CEL, or that
// refer to steps.<id> for a step that is not among the step's (transitive)
// dependencies; a condition that is not boolean; quorum < 1 or > 20;
// invalid durations; max_attempts < 1 or > 100; an on_failure mode other
// than fail, continue or a compensate block with an action.
func Parse(text []byte) (*Definition, error) { return parse(text) }

// Limits.
const (
	MaxBytes = 256 << 10
	MaxSteps = 200
)

// Step returns the step with the given id, or nil.
func (d *Definition) Step(id string) *Step { return d.step(id) }

// Condition evaluates the step's condition; true when it has none. An
// evaluation error (e.g. a missing key) is returned as an error; the engine
// treats it as a failed step.
func (s *Step) Condition(sc Scope) (bool, error) { return s.condition(sc) }

// Ancestors returns the step's transitive dependencies (the steps whose
// views its condition and input may read), in the order of
// Definition.Order. It is a helper for the engine building a Scope.
func (s *Step) Ancestors() []string { return slices.Clone(s.ancestors) }

// Reads says what the step's condition and input read, so the engine loads
// only those steps' results; CompensationReads does the same for the
// compensation input. A step named in Steps is one the expression may read
// (Parse checked it); with AllSteps an expression uses the steps map as a
// whole and every step in scope is needed.
func (s *Step) Reads() Reads { return cloneReads(s.reads) }

// CompensationReads is Reads for the on_failure compensation input.
func (s *Step) CompensationReads() Reads { return cloneReads(s.compReads) }

func cloneReads(r Reads) Reads {
	r.Steps = maps.Clone(r.Steps)
	return r
}

// HasCondition reports whether the step declares a condition.
func (s *Step) HasCondition() bool { return s.hasCondition() }

// Input renders the step's input template against sc: every string that is
// exactly "${{ expr }}" becomes the expression's JSON value; a string with
// embedded "${{ expr }}" parts becomes a string with each part replaced by
// its value's text. Everything else is copied as it is. No input is JSON null.
func (s *Step) Input(sc Scope) (json.RawMessage, error) { return s.input(sc) }

// CompensationInput renders the on_failure compensation input the same way;
// its scope's steps include the failed step itself.
func (s *Step) CompensationInput(sc Scope) (json.RawMessage, error) { return s.compensationInput(sc) }

// Delay is the wait before attempt n (n >= 2).
func (r Retry) Delay(n int) time.Duration { return r.delay(n) }

// ValidStepID reports whether id is a valid step id: 1 to 64 of A-Z a-z 0-9
// _ - starting with a letter or digit (so never containing a '.').
func ValidStepID(id string) bool { return idRe.MatchString(id) }
