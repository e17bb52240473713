// Package jsonread reads JSON texts member by member into Go values: the
// Reader of ledger entry bodies (package ledger) and evidence bundles
// (package ledger/bundle). See the rules below.
package jsonread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Entry bodies and bundles are read with jsontext.Decoder, member by
// member, into the structs that hold them: each object's members are a
// table (a []Field) of name and decoding function. The rules, the same in
// every object read:
//
//   - the input is exactly one RFC 8259 JSON value in UTF-8, with optional
//     white space around it;
//   - member names match exactly (no case folding); a member in the table
//     may appear once; a member not in the table is skipped, and may repeat;
//   - a skipped value may not nest more than MaxDepth containers deep;
//   - escaped surrogate halves that do not pair (valid JSON, not valid
//     Unicode) read as U+FFFD, as encoding/json reads them.
//
// jsontext checks the syntax. It is asked not to track member names
// (repetition is checked only where it matters, from the table) and not to
// check UTF-8 (which would refuse unpaired escaped surrogates): the input's
// UTF-8 is checked once, before reading.

// MaxDepth is how deeply a skipped value may nest: no value may be inside
// more than MaxDepth containers (arrays, objects).
const MaxDepth = 512

var (
	// errSyntax is wrapped by every error of the Reader.
	errSyntax = errors.New("invalid JSON")
	// errTooDeep is the error of a value nested too deeply.
	errTooDeep = fmt.Errorf("%w: nesting too deep", errSyntax)
	// readOptions configure every decoder (see above).
	readOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}
)

// shapeError is well-formed JSON that is not what the Reader reads there:
// a number where a string belongs, a repeated member … (see Reader.Try).
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

// Unwrap makes a shapeError an errSyntax.
func (e *shapeError) Unwrap() error { return errSyntax }

func ShapeErr(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...)}
}

// Reader reads one JSON text. Readers are pooled (NewReader, Release).
type Reader struct {
	d jsontext.Decoder
	// in holds the input when it was given as a string; view is the input
	// given as bytes (not to be written to).
	in, view bytes.Buffer
	// src is the input when it was given as a string (see stringOf).
	src string
	// text is scratch space for unquoting escaped strings.
	text []byte
	// limit is the deepest a skipped value may nest (MaxDepth, or one more
	// inside an entry's event, see readEvent).
	Limit int
	// Words are the strings Word returns without allocating (set by the
	// caller after NewReader or NewStringReader).
	Words map[string]string
}

// PeekKind is the kind of the next token (see jsontext.Decoder.PeekKind).
func (r *Reader) PeekKind() jsontext.Kind { return r.d.PeekKind() }

// wordOf returns b as a string, without allocating for r.Words.
func (r *Reader) wordOf(b []byte) string {
	if w, ok := r.Words[string(b)]; ok {
		return w
	}
	return string(b)
}

var readers = sync.Pool{New: func() any { return new(Reader) }}

// NewReader returns a Reader of b (which it does not copy or modify), or
// an error if b is not UTF-8.
func NewReader(b []byte) (*Reader, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid UTF-8", errSyntax)
	}
	r := readers.Get().(*Reader)
	r.view = *bytes.NewBuffer(b)
	r.d.Reset(&r.view, readOptions...)
	r.Limit = MaxDepth
	return r, nil
}

// NewStringReader is NewReader of a string (copied into the Reader).
func NewStringReader(s string) (*Reader, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: invalid UTF-8", errSyntax)
	}
	r := readers.Get().(*Reader)
	r.in.Reset()
	r.in.WriteString(s)
	r.src = s
	r.d.Reset(&r.in, readOptions...)
	r.Limit = MaxDepth
	return r, nil
}

// Release returns r to the pool; r must not be used after.
func (r *Reader) Release() {
	if r.view.Cap() > 0 {
		// Drop the decoder's reference to the caller's bytes (a bundle
		// may be large). A string input was copied to r.in, ours.
		r.view = bytes.Buffer{}
		r.d.Reset(&r.view)
	}
	r.src = ""
	readers.Put(r)
}

// End checks that nothing but white space follows the value read.
func (r *Reader) End() error {
	if _, err := r.d.ReadToken(); err == nil {
		return fmt.Errorf("%w: data after the top-level value at offset %d", errSyntax, r.d.InputOffset())
	} else if !errors.Is(err, io.EOF) {
		return r.wrap(err)
	}
	return nil
}

// wrap makes an error of jsontext an errSyntax.
func (r *Reader) wrap(err error) error {
	if err == nil || errors.Is(err, errSyntax) {
		return err
	}
	return fmt.Errorf("%w: %v", errSyntax, err)
}

// Field is one member of an object of type T that a Reader reads: its name
// and how its value is decoded into a T.
type Field[T any] struct {
	Name string
	// Required: an object without the member is an error.
	Required bool
	Read     func(r *Reader, v *T) error

	// again, when set, is called instead of failing when the member is
	// repeated; the repeated value is skipped if it returns nil.
	Again func(v *T) error
}

// DecodeObject reads an object into v, decoding the members in fields (at
// most 64), each at most once, and skipping the others.
func DecodeObject[T any](r *Reader, v *T, fields []Field[T]) error {
	return ReadMembers(r, v, fields, nil)
}

// ReadMembers is DecodeObject with other, when not nil, reading the members
// not in fields instead of skipping them.
func ReadMembers[T any](r *Reader, v *T, fields []Field[T], other func(name []byte) error) error {
	if err := r.open('{', "object"); err != nil {
		return err
	}
	var seen uint64
	for r.PeekKind() != '}' {
		raw, err := r.d.ReadValue() // a Name: jsontext reads nothing but a string here
		if err != nil {
			return r.wrap(err)
		}
		name := r.unquote(raw)
		if i := lookup(fields, name); i >= 0 {
			err = readField(r, v, &fields[i], &seen, uint64(1)<<i)
		} else if other != nil {
			err = other(name)
		} else {
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	if _, err := r.d.ReadToken(); err != nil {
		return r.wrap(err)
	}
	for i, f := range fields {
		if f.Required && seen&(1<<i) == 0 {
			return ShapeErr("no %s", f.Name)
		}
	}
	return nil
}

// readField reads the value of member f, whose bit in seen is bit.
func readField[T any](r *Reader, v *T, f *Field[T], seen *uint64, bit uint64) error {
	if *seen&bit == 0 {
		*seen |= bit
		return f.Read(r, v)
	}
	if f.Again == nil {
		return ShapeErr("member %q repeated", f.Name)
	}
	if err := f.Again(v); err != nil {
		return err
	}
	return r.Skip()
}

// lookup returns the position of the member called name in fields, or -1.
func lookup[T any](fields []Field[T], name []byte) int {
	for i := range fields {
		if fields[i].Name == string(name) {
			return i
		}
	}
	return -1
}

// ReadArray reads an array, calling elem for each element.
func (r *Reader) ReadArray(elem func() error) error {
	if err := r.open('[', "array"); err != nil {
		return err
	}
	for r.PeekKind() != ']' {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err := r.d.ReadToken()
	return r.wrap(err)
}

// open reads the token that begins an object or array.
func (r *Reader) open(kind jsontext.Kind, what string) error {
	switch k := r.PeekKind(); k {
	case kind:
		_, err := r.d.ReadToken()
		return r.wrap(err)
	case 0, '}', ']':
		// A syntax error, or no value where one belongs: reading says which.
		_, err := r.d.ReadValue()
		return r.wrap(err)
	default:
		return ShapeErr("%s expected, not %s", what, k)
	}
}

// scalar reads the next value and fails unless its kind is kind, or null
// when orNull.
func (r *Reader) scalar(kind jsontext.Kind, orNull bool, what string) (jsontext.Value, error) {
	v, err := r.Value()
	if err != nil {
		return nil, err
	}
	if k := v.Kind(); k != kind && (k != 'n' || !orNull) {
		return nil, ShapeErr("%s expected, not %s", what, k)
	}
	return v, nil
}

// Null reads a literal (null, true or false).
func (r *Reader) Null() error {
	_, err := r.d.ReadValue()
	return r.wrap(err)
}

// Str reads a string (or a member name) and returns its unquoted bytes,
// valid until the next read.
func (r *Reader) Str() ([]byte, error) {
	v, err := r.scalar('"', false, "string")
	if err != nil {
		return nil, err
	}
	return r.unquote(v), nil
}

// unquote returns the content of string v, valid until the next read.
func (r *Reader) unquote(v jsontext.Value) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	// The only error left is an unpaired surrogate, read as U+FFFD.
	r.text, _ = jsontext.AppendUnquote(r.text[:0], v)
	return r.text
}

// stringOf returns the content of the string v just read: when the input
// was given as a string and v has no escapes, the part of the input it is
// (not a copy).
func (r *Reader) stringOf(v jsontext.Value) string {
	b := r.unquote(v)
	if r.src != "" && len(b) == len(v)-2 {
		end := int(r.d.InputOffset()) - 1
		return r.src[end-len(b) : end]
	}
	return string(b)
}

// String reads a string.
func (r *Reader) String(dst *string) error {
	return r.stringOr(false, dst)
}

// StringOrNull reads a string, or null as "".
func (r *Reader) StringOrNull(dst *string) error {
	return r.stringOr(true, dst)
}

// stringOr reads a string, or null as "" when orNull.
func (r *Reader) stringOr(orNull bool, dst *string) error {
	v, err := r.scalar('"', orNull, "string")
	if err == nil {
		*dst = ""
		if v.Kind() == '"' {
			*dst = r.stringOf(v)
		}
	}
	return err
}

// Word is stringOrNull for members whose values come from the event
// vocabulary: the common ones are not allocated.
func (r *Reader) Word(dst *string) error {
	v, err := r.scalar('"', true, "string")
	if err == nil {
		*dst = ""
		if v.Kind() == '"' {
			*dst = r.wordOf(r.unquote(v))
		}
	}
	return err
}

// Uint reads a non-negative integer (digits only, at most 2⁶⁴-1).
func (r *Reader) Uint(dst *uint64) error {
	return r.uintOr(false, dst)
}

// UintOrNull reads a non-negative integer, or null as 0.
func (r *Reader) UintOrNull(dst *uint64) error {
	return r.uintOr(true, dst)
}

// uintOr reads a non-negative integer, or null as 0 when orNull.
func (r *Reader) uintOr(orNull bool, dst *uint64) error {
	v, err := r.scalar('0', orNull, "non-negative integer")
	if err != nil {
		return err
	}
	*dst = 0
	if v.Kind() == 'n' {
		return nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return ShapeErr("%s is not an unsigned 64-bit integer", v)
	}
	*dst = n
	return nil
}

// BoolOrNull reads true, false, or null as false.
func (r *Reader) BoolOrNull(dst *bool) error {
	v, err := r.Value()
	if k := v.Kind(); err == nil && k != 't' && k != 'f' && k != 'n' {
		return ShapeErr("boolean expected, not %s", k)
	}
	if err == nil {
		*dst = v.Kind() == 't'
	}
	return err
}

// Skip skips the next value, refusing one that nests deeper than r.Limit.
func (r *Reader) Skip() error {
	_, err := r.Value()
	return err
}

// Value reads the next value (valid until the next read), refusing one that
// nests deeper than r.Limit.
func (r *Reader) Value() (jsontext.Value, error) {
	depth := r.d.StackDepth()
	v, err := r.d.ReadValue()
	if err != nil {
		return nil, r.wrap(err)
	}
	// A value inside n containers is at least 2n+1 bytes long.
	if depth+len(v)/2 > r.Limit && depth+nesting(v) > r.Limit {
		return nil, errTooDeep
	}
	return v, nil
}

// nesting returns how many containers of v the most deeply nested value
// in v is inside (0 for a scalar or an empty container). v is valid JSON.
func nesting(v jsontext.Value) int {
	d := jsontext.NewDecoder(bytes.NewBuffer(v), readOptions...)
	deepest := 0
	for {
		if k := d.PeekKind(); k != '}' && k != ']' {
			deepest = max(deepest, d.StackDepth())
		}
		if _, err := d.ReadToken(); err != nil {
			return deepest
		}
	}
}

// Try reads a value with read. When read fails with a *shapeError (not
// wrapped: the Reader returns them as they are), try
// skips what is left of the value and returns that error as soft: the
// value is well-formed and its meaning is decided later. Any other error
// (the input is not valid JSON) is hard.
func (r *Reader) Try(read func() error) (soft, hard error) {
	depth, offset := r.d.StackDepth(), r.d.InputOffset()
	err := read()
	if _, shape := err.(*shapeError); !shape {
		return nil, err
	}
	if r.d.StackDepth() == depth && r.d.InputOffset() == offset {
		hard = r.Skip() // nothing of the value read yet
	} else {
		hard = r.finish(depth)
	}
	if hard != nil {
		return nil, hard
	}
	return err, nil
}

// finish skips the rest of the containers open below depth.
func (r *Reader) finish(depth int) error {
	for r.d.StackDepth() > depth {
		switch r.PeekKind() {
		case '}', ']':
			if _, err := r.d.ReadToken(); err != nil {
				return r.wrap(err)
			}
		default:
			if err := r.Skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ValidJSON reports whether b is exactly one JSON value (RFC 8259) with
// optional surrounding white space, nested at most MaxDepth deep.
func ValidJSON(b []byte) bool {
	r, err := NewReader(b)
	if err != nil {
		return false
	}
	defer r.Release()
	return r.Skip() == nil && r.End() == nil
}

// IfObject runs read if the next value is an object, and skips it if not.
func IfObject(r *Reader, read func() error) error {
	if r.PeekKind() != '{' {
		return r.Skip()
	}
	return read()
}

// Text is the Field of a string (or null: "") member.
func Text[T any](name string, dst func(*T) *string) Field[T] {
	return Field[T]{Name: name, Read: func(r *Reader, v *T) error { return r.StringOrNull(dst(v)) }}
}

// ReadStrings reads null (leaving *dst nil) or an array of strings.
func ReadStrings(r *Reader, dst *[]string) error {
	if r.PeekKind() == 'n' {
		return r.Null()
	}
	*dst = []string{}
	return r.ReadArray(func() error {
		var s string
		err := r.String(&s)
		*dst = append(*dst, s)
		return err
	})
}
