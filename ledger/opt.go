package ledger

import "encoding/json"

// Opt is a string that is JSON null when empty: the evidence format's
// optional identifiers (run_id, workflow_step_id, resource, …) are null
// when absent. The root package's cairn.Opt is this type.
type Opt string

// MarshalJSON encodes "" as null.
func (o Opt) MarshalJSON() ([]byte, error) {
	if o == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(o))
}

// UnmarshalJSON accepts null or a string.
func (o *Opt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*o = Opt(s)
	return nil
}
