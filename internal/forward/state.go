package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// State is the forwarder's state file: for each sink, the last ledger index
// it acknowledged. It is rewritten whole, to a temporary file that is
// fsync'd and renamed over the old one (and the directory fsync'd), so a
// crash leaves either the old or the new cursors, never a torn file.
type State struct {
	path string
	mu   sync.Mutex
	cur  map[string]uint64
}

type stateFile struct {
	Version int               `json:"version"`
	Sinks   map[string]uint64 `json:"sinks"` // sink name -> last acknowledged index
}

// OpenState reads the state file at path (a missing file is an empty
// state: every sink starts at the first entry).
func OpenState(path string) (*State, error) {
	s := &State{path: path, cur: map[string]uint64{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("state file %s is not a cairn forward state (version 1): refusing to guess a position", path)
	}
	for k, v := range f.Sinks {
		s.cur[k] = v
	}
	return s, nil
}

// Cursor is the last index sink acknowledged; ok is false when it has
// acknowledged none.
func (s *State) Cursor(sink string) (last uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok = s.cur[sink]
	return last, ok
}

// Advance records that sink acknowledged everything up to index last, and
// returns once that is durable.
func (s *State) Advance(sink string, last uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, had := s.cur[sink]
	s.cur[sink] = last
	if err := s.write(); err != nil {
		if had {
			s.cur[sink] = prev
		} else {
			delete(s.cur, sink)
		}
		return err
	}
	return nil
}

func (s *State) write() error {
	raw, err := json.Marshal(stateFile{Version: 1, Sinks: s.cur})
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state file: fsync of %s: %w", dir, err)
	}
	return nil
}
