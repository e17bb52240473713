package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gowebpki/jcs"
)

// transformJCS is jcs.Transform computed as the package computes it:
// jsontext where appendCanonical takes the input, jcs.Transform elsewhere.
func transformJCS(in []byte) ([]byte, error) {
	if out, ok := appendCanonical(make([]byte, 0, len(in)+16), in); ok {
		return out, nil
	}
	return jcs.Transform(in)
}

// jcsSeeds are JSON texts (valid or not) on which transformJCS must agree
// with jcs.Transform.
var jcsSeeds = []string{
	// RFC 8785 section 3.2.2 and 3.2.3 examples.
	`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`,
	`{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}`,
	// Numbers: ES6 forms, -0, extremes, integers around 2^53 and 15 digits.
	`[0, -0, -0.0, 0.0e5, 1, -1, 1e21, 1e20, 1E+21, 1e-7, 1e-6, 0.000001, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e400, -1e400, 1e-400]`,
	`[9007199254740992, 9007199254740993, -9007199254740993, 123456789012345, 1234567890123456, 12345678901234567890, 999999999999999, 9999999999999999, 100000000000000000000, 1000000000000000000000]`,
	`[0.1, 0.2, 0.30000000000000004, 1.5, -2.5e-3, 4.50, 1E2, 1e+2, 1e-2, 12.0, 1.0e0, 295147905179352825856, 9.999999999999997e22, 1e23]`,
	`[01]`, `[1.]`, `[.5]`, `[-]`, `[1e]`, `[1e+]`, `[+1]`, `[0x10]`, `[1_000]`, `[Infinity]`, `[NaN]`, `-`, `1 2`,
	// Member order: UTF-16 code units, not UTF-8 bytes or code points.
	`{"\ue000":1,"\ud83d\ude00":2,"\uffff":3,"\u0080":4,"a":5,"":6,"A":7,"\u007f":8,"aa":9,"a\u0000":10}`,
	"{\"\ue000\":1,\"\U0001F600\":2,\"\uffff\":3,\"\u0080\":4,\"\U00010000\":5,\"\ud7ff\":6,\"\U0010FFFF\":7}",
	`{"b":{"d":[1,{"z":"\ud83d\ude00","y":null}],"c":"\u00e9\/"},"a":-0.0e1,"\u00e9":[true,false,null],"A":1E2}`,
	`{"abcdefgh":1,"abcdefg":2,"abcdefghi":3,"abcdefgh\u0000":4,"abcdefg\u0000":5}`,
	`{"zz":1,"z":2,"yz":3,"y\u0000":4,"y\n":5,"y\"":6,"y\\":7,"y#":8}`,
	// Repeated names, also after unescaping.
	`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"b":1,"a":1,"b":2}`, `{"\ud83d\ude00":1,"😀":2}`,
	// Strings: escapes, control characters, HTML and line separators.
	`"\u0000\u0001\u001f\u007f\b\f\n\r\t\/\"\\"`, `"<>&\u003c\u003e\u0026"`, "\"\u2028\u2029\\u2028\\u2029\"",
	`"\u00e9\u00E9\uABCD\uabcd"`, `"\ud83d\ude00\uD83D\uDE00"`, "\"\x7f\"",
	`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud800\ud800"`, `"\ud800x"`, `"\u12"`, `"\u12g4"`, `"\x"`, `"\'"`,
	"\"a\x01\"", "\"\xff\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "{\"\xfe\":1}", "\"\xe2\x82\"",
	// Structure and white space.
	` { "a" : [ 1 , 2 ] , "b" : { } } `, "\t\n\r[\t\n\r]\t\n\r", `{}`, `[]`, `""`, `null`, `true`, `false`, `0`,
	``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`,
	`{"a":1}x`, `{"a":1}{}`, `tru`, `nul`, `[true false]`, `[truex]`, `{1:2}`, `{"a":1:2}`, "[\u00a0]", "[1]\u00a0",
	strings.Repeat("[", 63) + strings.Repeat("]", 63), strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat(`{"b":{"a":`, 40) + "1" + strings.Repeat(`,"a":0}`, 80),
	// Both allow 10000 levels of nesting.
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	strings.Repeat(`[{"a":`, 5000) + "1" + strings.Repeat("}]", 5000), strings.Repeat(`{"a":[`, 5000) + "1" + strings.Repeat("]}", 5000) + "x",
	// Out of binary64 range (jsontext writes ±math.MaxFloat64, jcs rejects),
	// and the text of ±math.MaxFloat64 itself.
	`[1e309]`, `[-1e309]`, `{"a":1E+400}`, "[" + strings.Repeat("9", 400) + "]", "[-" + strings.Repeat("9", 400) + ".5]",
	`[1.7976931348623157e308, -1.7976931348623157E+308, 1.7976931348623158e308, 1.797693134862315807e308]`, `"1.7976931348623157e+308"`,
	`[4.9e-324, 2e-324, 3e-324, -1e-400, 1e-4000000]`,
	// Objects of more than 16 members (sorted by another algorithm).
	manyMembers(20, false), manyMembers(20, true), manyMembers(300, false),
	`{"t":1,"s":1,"r":1,"q":1,"p":1,"o":1,"n":1,"m":1,"l":1,"k":1,"j":1,"i":1,"h":1,"g":1,"f":1,"e":1,"\ue000":1,"\ud83d\ude00":1,"\u00e9":1,"\u0000":1}`,
}

// manyMembers is an object of n members in descending name order, with a
// repeated name if dup.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := n; i > 0; i-- {
		fmt.Fprintf(&b, `"k%03d\u00e9":[%d,{"z":1,"y":2}],`, i, i)
	}
	if dup {
		b.WriteString(`"k007\u00e9":0,`)
	}
	b.WriteString(`"end":true}`)
	return b.String()
}

func checkTransformJCS(t *testing.T, in []byte) {
	t.Helper()
	want, err1 := jcs.Transform(in)
	got, err2 := transformJCS(in)
	if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
		t.Fatalf("errors differ for %q: jcs %v, transformJCS %v", in, err1, err2)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs for %q:\n got %q\nwant %q", in, got, want)
	}
	// The fast path never produces a result jcs.Transform would not, and
	// it is jsontext.Value.Canonicalize.
	if fast, ok := appendCanonical(nil, in); ok {
		if err1 != nil || !bytes.Equal(fast, want) {
			t.Fatalf("fast path accepted %q: %q, jcs %q %v", in, fast, want, err1)
		}
		v := jsontext.Value(bytes.Clone(in))
		if err := v.Canonicalize(); err != nil || !bytes.Equal(v, fast) {
			t.Fatalf("Canonicalize(%q) = %q, %v; AppendFormat gave %q", in, v, err, fast)
		}
	}
}

func TestTransformJCSMatchesJCS(t *testing.T) {
	for _, s := range jcsSeeds {
		checkTransformJCS(t, []byte(s))
	}
	checkTransformJCS(t, nil)
}

// FuzzTransformJCSMatchesJCS checks transformJCS against jcs.Transform on
// arbitrary input: identical output, identical errors.
func FuzzTransformJCSMatchesJCS(f *testing.F) {
	for _, s := range jcsSeeds {
		f.Add([]byte(s))
	}
	for _, ev := range []any{benchDecidedEvent(), benchSubmittedEvent()} {
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkTransformJCS(t, in)
	})
}

func TestRFC8785Examples(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{jcsSeeds[0], `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{jcsSeeds[1], `{"\r":"Carriage Return","1":"One","` + "\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{`[1e21,1e-7,-0,5e-324,1e20,0.000001,9007199254740993,-1.5E+3]`, `[1e+21,1e-7,0,5e-324,100000000000000000000,0.000001,9007199254740992,-1500]`},
		{`"<>&\u2028\u2029\u0001\u007f"`, "\"<>&\u2028\u2029\\u0001\u007f\""},
	} {
		got, err := transformJCS([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("transformJCS(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// TestFastPathTakesEvents: the events the submit path canonicalises (and
// other ordinary JSON) never fall back to jcs.Transform.
func TestFastPathTakesEvents(t *testing.T) {
	for _, ev := range []any{benchDecidedEvent(), benchSubmittedEvent()} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := appendCanonical(nil, b); !ok {
			t.Errorf("fast path refused %s", b)
		}
	}
	for _, s := range []string{jcsSeeds[0], jcsSeeds[1], manyMembers(20, false), manyMembers(300, false)} {
		if _, ok := appendCanonical(nil, []byte(s)); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
}

type canonOdd struct {
	S     string          `json:"s"`
	Omit  string          `json:"omit,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Num   json.Number     `json:"num,omitempty"`
	F     float64         `json:"f"`
	F32   float32         `json:"f32"`
	I     int64           `json:"i"`
	U     uint64          `json:"u"`
	Str   int             `json:"str,string"`
	Bytes []byte          `json:"bytes"`
	Opt   benchOpt        `json:"opt"`
	Ptr   *canonOdd       `json:"ptr,omitempty"`
	Any   any             `json:"any"`
	M     map[string]any  `json:"m"`
	embeddedCanon
}

type embeddedCanon struct {
	E string `json:"e"`
	S string `json:"s"` // shadowed by canonOdd.S
}

func canonValues() []any {
	return []any{
		nil, true, 0, math.Copysign(0, -1), 1e21, 1e-7, 5e-324, math.MaxFloat64, float32(0.1), int64(math.MaxInt64), uint64(math.MaxUint64),
		"", "<>&\u2028\u2029", "bad\xff\xfeutf8", "\x00\x1f\x7f\"\\/", "😀\ue000\uffff",
		[]any{}, map[string]any{}, []string(nil), map[string]string(nil), json.RawMessage(`{"b":1,"a":[1e21,"\u003c"]}`),
		map[string]any{"\ue000": 1, "😀": 2, "\uffff": 3, "b": map[string]int{"y": 1, "x": 2}, "a\xff": "v"},
		map[string]any{"\xff": 1, "\xfe": 2}, // both names become U+FFFD: jcs rejects the repeat
		json.RawMessage(`{"a":1,"a":2}`), json.RawMessage("\"\xff\""), json.RawMessage(`"\ud800"`), json.RawMessage(`1e400`),
		math.NaN(), math.Inf(1), func() {}, make(chan int),
		canonOdd{S: "s", Omit: "o", Raw: json.RawMessage(` { "z" : 1 , "y" : [ ] } `), Num: "1.50", F: 0.1, F32: 1e-7, I: -9007199254740993,
			U: 12345678901234567890, Str: 42, Bytes: []byte("<bytes>"), Opt: "x", Ptr: &canonOdd{Opt: ""}, Any: []any{1.5, "é", nil},
			M: map[string]any{"k": canonOdd{}}, embeddedCanon: embeddedCanon{E: "e", S: "shadowed"}},
		benchDecidedEvent(), benchSubmittedEvent(),
	}
}

func checkCanonical(t *testing.T, v any) {
	t.Helper()
	want, err1 := canonicalReference(v)
	got, err2 := Canonical(v)
	if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
		t.Fatalf("errors differ for %#v: reference %v, Canonical %v", v, err1, err2)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Canonical(%#v)\n got %s\nwant %s", v, got, want)
	}
}

func TestCanonicalMatchesReference(t *testing.T) {
	for _, v := range canonValues() {
		checkCanonical(t, v)
	}
}

// FuzzCanonicalMatchesJCS checks Canonical on Go values (as events are
// built: structs, maps, strings, numbers, raw JSON) against encoding/json
// followed by jcs.Transform.
func FuzzCanonicalMatchesJCS(f *testing.F) {
	f.Add("a", "b", "<>&", 1.5, int64(1), []byte(`{"x":[1,2]}`))
	f.Add("\ue000", "😀", "\u2028\x00\x7f", 1e21, int64(-9007199254740993), []byte(`"\ud83d\ude00"`))
	f.Add("\xff", "\xfe", "\"\\", 5e-324, int64(math.MaxInt64), []byte(`{"b":1,"a":{"d":null,"c":true}}`))
	f.Add("", "", "", math.Copysign(0, -1), int64(0), []byte(`1E400`))
	f.Add("k", "k", "v", 1e-7, int64(123456789012345), []byte(` [ 0.1 , 1e-400 , "a\tb" ] `))
	// The error for a surrogate escape followed by a character encoding/json
	// escapes as HTML must be jcs.Transform's error on json.Marshal output.
	f.Add("2\x80\x80", "😀", "\u2028\x00\x7f", 1e21, int64(-9007199254741053), []byte(`"\ud83d&00000"`))
	f.Add("a", "b", "c", 1.0, int64(2), []byte(`"\ud83d<\ude00"`))
	f.Fuzz(func(t *testing.T, k1, k2, s string, fl float64, i int64, raw []byte) {
		m := map[string]any{k1: s, k2: fl, "i": i, "raw": json.RawMessage(raw), "list": []any{k1, s, fl, i}}
		checkCanonical(t, m)
		checkCanonical(t, canonOdd{S: s, Omit: k1, Raw: raw, F: fl, I: i, U: uint64(i), Opt: benchOpt(k2), M: map[string]any{k1: k2}, Any: s})
		checkCanonical(t, &benchEvent{Type: s, RunID: benchOpt(k1), JobID: benchOpt(k2), Data: m})
	})
}
