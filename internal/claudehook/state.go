package claudehook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The modes a state file records: how PreToolUse let the tool run.
const (
	ModeDispatched = "dispatched" // allowed; the job is leased under LeaseID
	ModeAsked      = "asked"      // approval still pending; Claude Code asked its user
	ModeFailOpen   = "fail_open"  // the server was unreachable and --fail-open allowed it
)

// staleAfter is how old a state file may grow before it is pruned: no
// lease lasts longer than an hour, so by then it can no longer be used.
const staleAfter = 24 * time.Hour

// State is what PreToolUse leaves for PostToolUse about one tool use. It
// never holds the API key.
type State struct {
	JobID          string    `json:"job_id"`
	Mode           string    `json:"mode"`
	LeaseID        string    `json:"lease_id,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	SavedAt        time.Time `json:"saved_at"`
}

// StateDir is the directory of the hook's state files: dir when set, else
// $CAIRN_HOOK_STATE, else <user cache dir>/cairn/hook.
func StateDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv("CAIRN_HOOK_STATE"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no directory for the hook's state (set CAIRN_HOOK_STATE): %w", err)
	}
	return filepath.Join(cache, "cairn", "hook"), nil
}

// stateFile is the path of a job's state file; the name is the SHA-256 of
// the job id, so any job id makes a portable file name.
func stateFile(dir, jobID string) string {
	sum := sha256.Sum256([]byte(jobID))
	return filepath.Join(dir, hex.EncodeToString(sum[:])+".json")
}

// saveState writes st atomically with mode 0600 (the directory, when it is
// created, gets 0700), and prunes stale state files.
func saveState(dir string, st State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	pruneStates(dir, st.SavedAt)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing the state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	return os.Rename(f.Name(), stateFile(dir, st.JobID))
}

// loadState reads a job's state file; it is (nil, nil) when there is none.
func loadState(dir, jobID string) (*State, error) {
	b, err := os.ReadFile(stateFile(dir, jobID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.JobID != jobID {
		return nil, fmt.Errorf("the state file %s is damaged", stateFile(dir, jobID))
	}
	return &st, nil
}

// removeState deletes a job's state file.
func removeState(dir, jobID string) {
	os.Remove(stateFile(dir, jobID))
}

// pruneStates removes state files older than staleAfter: tool uses whose
// PostToolUse never came (Claude Code refused or interrupted the tool).
func pruneStates(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || len(e.Name()) != 64+len(".json") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
