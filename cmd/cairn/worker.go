package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
)

// workerOptions are the flags of cairn worker.
type workerOptions struct {
	Actions     []string
	Echo        bool
	Exec        string
	ID          string
	Concurrency int
	WaitMS      int
	LeaseMS     int
	LogKey      string
	g           *clientOptions
}

const workerLong = `Lease jobs whose action matches --action (repeatable glob) and run them
until interrupted.

--echo completes every job with its input as the result (a demo worker).
--exec runs CMD with sh -c for each job: the job's input JSON on stdin,
CAIRN_JOB_ID, CAIRN_ACTION, CAIRN_RESOURCE, CAIRN_RUN_ID, CAIRN_STEP_ID,
CAIRN_TRACE_ID, CAIRN_JOB_HASH, CAIRN_POLICY_SNAPSHOT and CAIRN_CONSTRAINTS in
the environment, and TRACEPARENT (TRACESTATE) when the server traces (CAIRN_KEY
and CAIRN_KEY_FILE are removed from it). Its
stdout is the result: JSON as is, anything else as a JSON string. A non-zero
exit fails the job with the last line of stderr. CMD is killed when the
lease expires.`

func newWorkerCmd(g *clientOptions) *cobra.Command {
	o := &workerOptions{g: g}
	cmd := clientGroup(&cobra.Command{
		Use:   "worker --action GLOB (--echo | --exec CMD)",
		Short: "Run a worker that leases and executes jobs",
		Long:  workerLong,
		Args:  cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd)
		}),
	})
	f := cmd.Flags()
	f.StringArrayVar(&o.Actions, "action", nil, "action glob to lease, e.g. 'db.*' (repeatable)")
	f.BoolVar(&o.Echo, "echo", false, "complete each job with its input as the result")
	f.StringVar(&o.Exec, "exec", "", "run this shell command for each job (input on stdin, result on stdout)")
	f.StringVar(&o.ID, "id", "", "worker id (default <hostname>-<pid>)")
	f.IntVar(&o.Concurrency, "concurrency", 1, "jobs run at once")
	f.IntVar(&o.WaitMS, "wait-ms", 20000, "long-poll wait per lease request")
	f.IntVar(&o.LeaseMS, "lease-ms", 0, "lease duration to ask for (0 = server default)")
	f.StringVar(&o.LogKey, "log-key", "", "the log's public key (or a file holding it) that dispatch receipts must verify against; default: fetched from the server")
	return cmd
}

// Validate checks that there is an --action and exactly one of --echo and
// --exec.
func (o *workerOptions) Validate() error {
	if len(o.Actions) == 0 {
		return usageError("at least one --action glob is required")
	}
	if o.Echo == (o.Exec != "") {
		return usageError("give exactly one of --echo and --exec")
	}
	return nil
}

// logKey is --log-key (or the file it names); without it, the server's key,
// trusted on first use, and said so.
func (o *workerOptions) logKey(logger *log.Logger) (string, error) {
	if o.LogKey != "" {
		if b, err := readMaybeFile(o.LogKey); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		return o.LogKey, nil
	}
	raw, err := o.g.apiGet("/api/v1/ledger/key")
	if err != nil {
		return "", fmt.Errorf("fetch the log key (or pass --log-key): %w", err)
	}
	var k struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", err
	}
	logger.Printf("log key %s taken from the server; pin it with --log-key", k.PublicKey)
	return k.PublicKey, nil
}

func (o *workerOptions) run(cmd *cobra.Command) error {
	var h client.Handler = echoHandler
	if o.Exec != "" {
		h = execHandler(o.Exec)
	}
	c, ctx, cancel, err := o.g.session(cmd, false)
	if err != nil {
		return err
	}
	defer cancel()
	logger := log.New(cmd.ErrOrStderr(), "cairn worker: ", log.LstdFlags|log.LUTC)
	logKey, err := o.logKey(logger)
	if err != nil {
		return err
	}
	w := &client.Worker{
		Client: c, WorkerID: o.ID, Actions: o.Actions, Handler: h,
		Concurrency: o.Concurrency, WaitMS: o.WaitMS, LeaseMS: o.LeaseMS,
		Logf: logger.Printf,
		// No log, no run: a job whose dispatch receipt does not verify is refused.
		VerifyReceipt: client.ReceiptVerifier(logKey),
	}
	logger.Printf("leasing %s from %s", strings.Join(o.Actions, ", "), c.BaseURL())
	err = w.Run(ctx)
	logger.Printf("stopped")
	return err
}

func echoHandler(_ context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
	if len(job.Input) == 0 {
		return json.RawMessage("null"), nil
	}
	return job.Input, nil
}

// maxExecOutput bounds what a job command may print.
const maxExecOutput = 64 << 20

func execHandler(command string) client.Handler {
	return func(ctx context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
		if !job.LeaseExpiresAt.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, job.LeaseExpiresAt)
			defer cancel()
		}
		c := exec.CommandContext(ctx, "sh", "-c", command)
		c.Env = jobEnv(os.Environ(), job)
		c.Stdin = bytes.NewReader(job.Input)
		// After a kill, do not wait for grandchildren holding the pipes.
		c.WaitDelay = 2 * time.Second
		var stdout, stderr limitedBuffer
		stdout.max, stderr.max = maxExecOutput, 64<<10
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		if stdout.over {
			return nil, fmt.Errorf("command output exceeds %d bytes", maxExecOutput)
		}
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return nil, errors.New("command killed: the lease expired")
			}
			msg := err.Error()
			if last := lastLine(stderr.String()); last != "" {
				msg += ": " + last
			}
			return nil, errors.New(msg)
		}
		out := bytes.TrimSpace(stdout.Bytes())
		if len(out) == 0 {
			return json.RawMessage("null"), nil
		}
		if json.Valid(out) {
			return json.RawMessage(out), nil
		}
		return json.Marshal(string(out))
	}
}

// jobEnv is the command's environment: the worker's, without its key, plus
// the job's identifiers.
func jobEnv(base []string, job *cairn.LeasedJob) []string {
	env := make([]string, 0, len(base)+9)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if name == "CAIRN_KEY" || name == "CAIRN_KEY_FILE" || strings.HasPrefix(name, "CAIRN_JOB_") || name == "TRACEPARENT" || name == "TRACESTATE" {
			continue
		}
		env = append(env, kv)
	}
	constraints := ""
	if len(job.Constraints) > 0 {
		constraints = string(job.Constraints)
	}
	if job.Traceparent != "" {
		// The job's trace (its dispatch span), in the environment
		// variables OpenTelemetry SDKs read for a process's parent.
		env = append(env, "TRACEPARENT="+job.Traceparent)
		if job.Tracestate != "" {
			env = append(env, "TRACESTATE="+job.Tracestate)
		}
	}
	return append(env,
		"CAIRN_JOB_ID="+job.JobID,
		"CAIRN_ACTION="+job.Action,
		"CAIRN_RESOURCE="+string(job.Resource),
		"CAIRN_RUN_ID="+string(job.RunID),
		"CAIRN_STEP_ID="+string(job.WorkflowStepID),
		"CAIRN_TRACE_ID="+job.TraceID,
		"CAIRN_JOB_HASH="+job.JobHash,
		"CAIRN_POLICY_SNAPSHOT="+job.PolicySnapshot,
		"CAIRN_CONSTRAINTS="+constraints,
	)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.TrimSpace(s)
}

// limitedBuffer keeps at most max bytes and notes when more were written.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)
