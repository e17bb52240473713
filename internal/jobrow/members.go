package jobrow

import "bytes"

// member is one member of a JSON object: its key (without quotes), its
// value and the whole "key":value text.
type member struct{ key, val, raw []byte }

// members splits compact JSON of an object (as encoding/json writes it:
// no whitespace, keys without escapes) into its members; false when b is
// not such an object.
func members(b []byte) ([]member, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	out := make([]member, 0, 40) // a job has 37 members
	i := 1
	if b[i] == '}' {
		return out, i == len(b)-1
	}
	for {
		if b[i] != '"' {
			return nil, false
		}
		start := i
		k := bytes.IndexByte(b[i+1:], '"')
		if k < 0 || bytes.IndexByte(b[i+1:i+1+k], '\\') >= 0 {
			return nil, false
		}
		j := i + 1 + k
		if j+1 >= len(b) || b[j+1] != ':' {
			return nil, false
		}
		end, ok := skipValue(b, j+2)
		if !ok {
			return nil, false
		}
		out = append(out, member{key: b[i+1 : j], val: b[j+2 : end], raw: b[start:end]})
		switch {
		case end == len(b)-1 && b[end] == '}':
			return out, true
		case end < len(b)-1 && b[end] == ',':
			i = end + 1
		default:
			return nil, false
		}
	}
}

// skipValue returns where the JSON value at b[i:] ends.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	j := i // a number or a literal
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j, j > i
}

// skipString returns where the JSON string at b[i:] ends (after its quote).
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		j += k
		escapes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1, true
		}
		j++
	}
}
