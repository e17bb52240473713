package workflow

import (
	"maps"
	"slices"
	"testing"
)

func TestReads(t *testing.T) {
	d, err := Parse([]byte(`name: reads
steps:
  - id: a
    action: tool.a
  - id: b
    action: tool.b
  - id: c
    action: tool.c
    depends_on: [a, b]
    condition: 'steps.a.status == "succeeded"'
    input: {x: "${{ steps[\"b\"].result.v }}", n: 1}
    on_failure:
      compensate: {action: tool.undo, input: {why: "${{ steps.c.error }}", order: "${{ input.order }}"}}
  - id: d
    action: tool.d
    depends_on: [c]
    input: {all: "${{ size(steps) }}"}
  - id: e
    action: tool.e
    depends_on: [c]
    input: {v: "${{ [1].map(steps, steps + 1) }}", plain: "no expressions"}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := d.Step("c").Reads()
	if got := slices.Sorted(maps.Keys(c.Steps)); !slices.Equal(got, []string{"a", "b"}) || c.AllSteps || c.Input {
		t.Fatalf("c reads %+v", c)
	}
	comp := d.Step("c").CompensationReads()
	if got := slices.Sorted(maps.Keys(comp.Steps)); !slices.Equal(got, []string{"c"}) || comp.AllSteps || !comp.Input {
		t.Fatalf("c's compensation reads %+v", comp)
	}
	if r := d.Step("d").Reads(); !r.AllSteps {
		t.Fatalf("d uses the steps map as a whole: %+v", r)
	}
	// A comprehension variable named steps shadows the map: nothing is read.
	if r := d.Step("e").Reads(); r.AllSteps || len(r.Steps) != 0 || r.Input {
		t.Fatalf("e reads %+v", r)
	}
	if r := d.Step("a").Reads(); r.AllSteps || len(r.Steps) != 0 || r.Input {
		t.Fatalf("a reads %+v", r)
	}
}
