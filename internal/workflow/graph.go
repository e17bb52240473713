package workflow

import (
	"math"
	"slices"
	"strings"
	"time"
)

// topoOrder orders the steps with Kahn's algorithm, always taking the ready
// step declared first. A cycle is a 422 that names it.
func topoOrder(raws []*rawStep, index map[string]int) ([]int, error) {
	n := len(raws)
	indeg := make([]int, n)
	dependents := make([][]int, n)
	for i, r := range raws {
		indeg[i] = len(r.s.DependsOn)
		for _, dep := range r.s.DependsOn {
			j := index[dep]
			dependents[j] = append(dependents[j], i)
		}
	}
	var ready []int // ascending declaration index
	for i := range n {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]int, 0, n)
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, i)
		for _, d := range dependents[i] {
			if indeg[d]--; indeg[d] == 0 {
				at, _ := slices.BinarySearch(ready, d)
				ready = slices.Insert(ready, at, d)
			}
		}
	}
	if len(order) == n {
		return order, nil
	}
	return nil, cycleError(raws, index, indeg)
}

// cycleError finds a cycle among the steps Kahn's algorithm left (each has
// a dependency that is also left) and reports it from the member declared
// first.
func cycleError(raws []*rawStep, index map[string]int, indeg []int) error {
	start := slices.IndexFunc(indeg, func(d int) bool { return d > 0 })
	pos := map[int]int{}
	var path []int
	cur := start
	for {
		if p, seen := pos[cur]; seen {
			path = path[p:]
			break
		}
		pos[cur] = len(path)
		path = append(path, cur)
		next := -1
		for _, dep := range raws[cur].s.DependsOn {
			if j := index[dep]; indeg[j] > 0 {
				next = j
				break
			}
		}
		cur = next
	}
	first := slices.Index(path, slices.Min(path))
	path = append(path[first:], path[:first]...)
	ids := make([]string, 0, len(path)+1)
	for _, i := range path {
		ids = append(ids, raws[i].s.ID)
	}
	ids = append(ids, ids[0])
	r := raws[path[0]]
	item := r.depsNode
	if len(path) > 1 {
		next := raws[path[1]].s.ID
		for k, dep := range r.s.DependsOn {
			if dep == next {
				item = r.deps[k]
			}
		}
	}
	return nodeErr(item, r.field+".depends_on", "depends_on forms a cycle: %s", strings.Join(ids, " -> "))
}

// setAncestors gives every step its transitive dependencies, in the
// definition's order.
func setAncestors(raws []*rawStep, index map[string]int, order []int) {
	pos := make([]int, len(raws)) // position in order
	for k, i := range order {
		pos[i] = k
	}
	sets := make([]map[int]bool, len(raws))
	for _, i := range order {
		set := map[int]bool{}
		for _, dep := range raws[i].s.DependsOn {
			j := index[dep]
			set[j] = true
			for a := range sets[j] {
				set[a] = true
			}
		}
		sets[i] = set
		anc := make([]int, 0, len(set))
		for a := range set {
			anc = append(anc, a)
		}
		slices.SortFunc(anc, func(a, b int) int { return pos[a] - pos[b] })
		s := raws[i].s
		s.ancestors = make([]string, len(anc))
		s.ancestorSet = make(map[string]bool, len(anc))
		for k, a := range anc {
			s.ancestors[k] = raws[a].s.ID
			s.ancestorSet[raws[a].s.ID] = true
		}
	}
}

func (d *Definition) step(id string) *Step {
	if d == nil {
		return nil
	}
	if d.byID != nil {
		return d.byID[id]
	}
	for _, s := range d.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// delay is Backoff * 2^(n-2) for n >= 2, capped at MaxBackoff when it is
// set; it saturates at the largest time.Duration instead of overflowing.
func (r Retry) delay(n int) time.Duration {
	if n < 2 || r.Backoff <= 0 {
		return 0
	}
	d := r.Backoff
	for i := 2; i < n; i++ {
		if r.MaxBackoff > 0 && d >= r.MaxBackoff {
			break
		}
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
			break
		}
		d *= 2
	}
	if r.MaxBackoff > 0 && d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	return d
}
