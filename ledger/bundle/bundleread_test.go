package bundle

import "testing"

func TestUnmarshalBundleRejects(t *testing.T) {
	good := `{"format":"` + BundleFormat + `","tenant":"t","entries":[{"index":0,"leaf_hash":"x","body":"{}"}]}`
	if b, err := UnmarshalBundle([]byte(good)); err != nil || len(b.Entries) != 1 || b.Entries[0].Body != "{}" {
		t.Fatalf("good: %v", err)
	}
	for _, bad := range []string{
		`{"format":"other"}`,
		`{"format":"` + BundleFormat + `","format":"` + BundleFormat + `"}`,
		`{"format":"` + BundleFormat + `","entries":[{"leaf_hash":"x"}]}`,
		`{"format":"` + BundleFormat + `","entries":[{"index":-1}]}`,
		`{"format":"` + BundleFormat + `","entries":[{"index":1,"index":2}]}`,
		`{"format":"` + BundleFormat + `","tenant":5}`,
		`{"format":"` + BundleFormat + `","inclusion_proofs":[{"hashes":[1]}]}`,
		`{"format":"` + BundleFormat + `"} x`,
		`[]`,
	} {
		if _, err := UnmarshalBundle([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestUnmarshalBundleExactNames: member names in policies, workflows, range
// and consistency proofs are exact, as everywhere in a bundle, and a
// repeated one is refused. A reader that matched them ignoring case read a
// policy text that a reader matching exactly (docs/evidence.md §5) does not
// see: {"text": <forged>, "Text": <real>} verified as the real text while
// the forged one is what the exact reader shows. Found by
// FuzzUnmarshalBundle.
func TestUnmarshalBundleExactNames(t *testing.T) {
	pre := `{"format":"` + BundleFormat + `",`
	b, err := UnmarshalBundle([]byte(pre + `"policies":[{"policy_snapshot":"s","text":"forged","Text":"real"}]}`))
	if err != nil || len(b.Policies) != 1 || b.Policies[0].Text != "forged" {
		t.Fatalf("policies read as %+v, %v; want the text member exactly", b, err)
	}
	b, err = UnmarshalBundle([]byte(pre + `"workflows":[{"workflow_id":"w","WORKFLOW_ID":"v","text":"x"}],"range":{"FROM":3,"to":4},"consistency_proofs":[{"From":1,"to":2}]}`))
	if err != nil || b.Workflows[0].WorkflowID != "w" || b.Range.From != 0 || b.ConsistencyProofs[0].From != 0 {
		t.Fatalf("read as %+v, %v; want members matched exactly", b, err)
	}
	for _, bad := range []string{
		`"policies":[{"policy_snapshot":"s","policy_snapshot":"u"}]}`,
		`"workflows":[{"text":"a","text":"b"}]}`,
		`"range":{"from":0,"from":1}}`,
		`"consistency_proofs":[{"hashes":[],"hashes":["00"]}]}`,
	} {
		if _, err := UnmarshalBundle([]byte(pre + bad)); err == nil {
			t.Errorf("accepted a repeated member: %s", bad)
		}
	}
}
