package postgres

import (
	"encoding/json"

	"github.com/cairnhq/cairn"
)

// notesChannel carries the notes of jobs made QUEUED (cairn.QueuedNote), so
// that a replica wakes only the long polls that can take them. A payload is
// a JSON notesPayload of at most maxNotesPayload bytes; a transaction that
// queues jobs of many actions sends several.
//
// queuedChannel, the channel of the versions before notes, carried only the
// schema. Replicas still LISTEN on it during a rolling upgrade and wake every
// long poll on it; they no longer send on it, so a replica of the older
// version hears nothing from the newer ones and its long polls wake on their
// own submits or at their wait_ms.
const notesChannel = "cairn_queued_notes"

// maxNotesPayload keeps a payload under PostgreSQL's 8,000-byte limit.
const maxNotesPayload = 7000

type notesPayload struct {
	Schema string     `json:"s"`
	Notes  []wireNote `json:"n"`
}

type wireNote struct {
	Tenant string `json:"t"`
	Action string `json:"a"`
	JobID  string `json:"j,omitempty"`
}

// noteQueued records that j became QUEUED in this transaction.
func (b *batch) noteQueued(j *cairn.Job) {
	n := cairn.QueuedNote{Tenant: j.Tenant, Action: j.Action}
	if j.Executor != "" {
		n.JobID = j.JobID
	}
	b.notes = append(b.notes, n)
}

// notePayloads encodes the batch's notes, each distinct note once, in
// payloads that fit a NOTIFY.
func notePayloads(schema string, notes []cairn.QueuedNote) []string {
	seen := map[cairn.QueuedNote]bool{}
	var out []string
	cur := notesPayload{Schema: schema}
	size := len(schema) + 16
	flush := func() {
		if len(cur.Notes) == 0 {
			return
		}
		b, _ := json.Marshal(cur) // strings only: cannot fail
		out = append(out, string(b))
		cur.Notes, size = nil, len(schema)+16
	}
	for _, n := range notes {
		if seen[n] {
			continue
		}
		seen[n] = true
		w := wireNote{Tenant: n.Tenant, Action: n.Action, JobID: n.JobID}
		b, _ := json.Marshal(w)
		if size+len(b)+1 > maxNotesPayload {
			flush()
		}
		cur.Notes = append(cur.Notes, w)
		size += len(b) + 1
	}
	flush()
	return out
}

// OnQueued implements cairn.Notifier: fn hears of every job made QUEUED
// through any store on this database and schema (this process's or another
// replica's), and gets an empty note whenever the listener (re)connects,
// since notifications sent while it was away are lost.
func (s *Store) OnQueued(fn func(cairn.QueuedNote)) {
	s.qmu.Lock()
	s.subs = append(s.subs, fn)
	s.qmu.Unlock()
}

func (s *Store) tell(n cairn.QueuedNote) {
	s.qmu.Lock()
	subs := s.subs
	s.qmu.Unlock()
	for _, fn := range subs {
		fn(n)
	}
}

// heard handles one notification on either channel.
func (s *Store) heard(channel, payload string) {
	if channel == queuedChannel {
		if payload == s.schema {
			s.tell(cairn.QueuedNote{})
		}
		return
	}
	var p notesPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		s.tell(cairn.QueuedNote{}) // not ours to read: wake everyone rather than lose it
		return
	}
	if p.Schema != s.schema {
		return
	}
	for _, n := range p.Notes {
		s.tell(cairn.QueuedNote{Tenant: n.Tenant, Action: n.Action, JobID: n.JobID})
	}
}
