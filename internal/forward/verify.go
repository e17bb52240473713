package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"
)

// ExtractRecords reads delivered records, one a line, in any of the
// forwarder's output formats: the webhook's NDJSON lines, Splunk HEC events,
// OCSF records (unmapped.cairn), RFC 5424 messages with the structured data
// element sdID (a line may carry a prefix, as a receiver's file does), or
// CEF lines. Lines with none of them are skipped; a line that carries a
// record that does not parse is an error.
func ExtractRecords(r io.Reader, sdID string) ([]Record, error) {
	if sdID == "" {
		sdID = DefaultSDID
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Record
	for n := 1; ; n++ {
		line, err := readLine(br, true)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rec, ok, err := extract(line, sdID)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			out = append(out, rec)
		}
	}
}

func extract(line []byte, sdID string) (Record, bool, error) {
	t := bytes.TrimSpace(line)
	if len(t) > 0 && t[0] == '{' {
		var probe struct {
			Index    *uint64         `json:"index"`
			LeafHash string          `json:"leaf_hash"`
			Body     json.RawMessage `json:"body"`
			Event    *Record         `json:"event"` // HEC
			Unmapped *struct {
				Cairn *Record `json:"cairn"`
			} `json:"unmapped"` // OCSF
		}
		if err := json.Unmarshal(t, &probe); err != nil {
			return Record{}, false, err
		}
		switch {
		case probe.Index != nil && probe.Body != nil:
			return Record{Index: *probe.Index, LeafHash: probe.LeafHash, Body: probe.Body}, true, nil
		case probe.Event != nil && probe.Event.Body != nil:
			return *probe.Event, true, nil
		case probe.Unmapped != nil && probe.Unmapped.Cairn != nil:
			return *probe.Unmapped.Cairn, true, nil
		}
		return Record{}, false, nil
	}
	if i := bytes.Index(line, []byte("["+sdID+" ")); i >= 0 {
		params, err := ParseSDElement(line[i:])
		if err != nil {
			return Record{}, false, err
		}
		return recordOf(params["index"], params["leaf_hash"], params["body"])
	}
	if i := bytes.Index(line, []byte("CEF:0|")); i >= 0 {
		ext, err := parseCEFExtension(line[i:])
		if err != nil {
			return Record{}, false, err
		}
		return recordOf(ext["cn1"], ext["cs1"], ext["cs6"])
	}
	return Record{}, false, nil
}

func recordOf(index, leaf, body string) (Record, bool, error) {
	n, err := strconv.ParseUint(index, 10, 64)
	if err != nil {
		return Record{}, false, fmt.Errorf("record without a valid ledger index (%q)", index)
	}
	if body == "" {
		return Record{}, false, fmt.Errorf("record %d without a body", n)
	}
	return Record{Index: n, LeafHash: leaf, Body: json.RawMessage(body)}, true, nil
}

// ParseSDElement parses one RFC 5424 SD-ELEMENT at the start of b
// ("[id name=\"value\" ...]") and returns its parameters, unescaped.
func ParseSDElement(b []byte) (map[string]string, error) {
	if len(b) == 0 || b[0] != '[' {
		return nil, fmt.Errorf("no structured data element")
	}
	i := bytes.IndexAny(b, " ]")
	if i < 0 {
		return nil, fmt.Errorf("structured data element not closed")
	}
	out := map[string]string{}
	for i < len(b) && b[i] == ' ' {
		i++
		eq := bytes.IndexByte(b[i:], '=')
		if eq < 0 || i+eq+1 >= len(b) || b[i+eq+1] != '"' {
			return nil, fmt.Errorf("malformed structured data parameter")
		}
		name := string(b[i : i+eq])
		v, end := sdParamValue(b, i+eq+2)
		if end >= len(b) {
			return nil, fmt.Errorf("structured data parameter %s not closed", name)
		}
		out[name] = string(v)
		i = end + 1 // past the closing quote
	}
	if i >= len(b) || b[i] != ']' {
		return nil, fmt.Errorf("structured data element not closed")
	}
	return out, nil
}

// sdParamValue unescapes the parameter value starting at i (after its
// opening quote) and returns it with the position of its closing quote
// (len(b) if there is none).
func sdParamValue(b []byte, i int) ([]byte, int) {
	var v []byte
	for ; i < len(b) && b[i] != '"'; i++ {
		if b[i] == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == ']') {
			i++
		}
		v = append(v, b[i])
	}
	return v, i
}

// parseCEFExtension parses the extension of a CEF line (after the seventh
// unescaped '|') into key -> unescaped value.
func parseCEFExtension(b []byte) (map[string]string, error) {
	i, ok := cefExtensionStart(b)
	if !ok {
		return nil, fmt.Errorf("CEF line without an extension")
	}
	ext := b[i:]
	out := map[string]string{}
	// Keys are [A-Za-z0-9_]+ followed by an unescaped '='; a value runs to
	// the next key.
	type kv struct{ k, start int }
	var keys []kv
	for j := 0; j < len(ext); j++ {
		if ext[j] == '\\' {
			j++
			continue
		}
		if ext[j] != '=' {
			continue
		}
		k := j
		for k > 0 && isKeyChar(ext[k-1]) {
			k--
		}
		if k == j || (k > 0 && ext[k-1] != ' ') {
			return nil, fmt.Errorf("CEF extension: unescaped '=' at byte %d", j)
		}
		keys = append(keys, kv{k, j + 1})
	}
	for n, key := range keys {
		end := len(ext)
		if n+1 < len(keys) {
			end = keys[n+1].k - 1
		}
		name := string(ext[key.k : key.start-1])
		out[name] = cefUnescape(ext[key.start:end])
	}
	return out, nil
}

// cefExtensionStart returns where the extension of a CEF line starts: after
// the seventh unescaped '|'.
func cefExtensionStart(b []byte) (int, bool) {
	bars := 0
	i := 0
	for ; i < len(b) && bars < 7; i++ {
		if b[i] == '\\' {
			i++
			continue
		}
		if b[i] == '|' {
			bars++
		}
	}
	return i, bars == 7
}

func isKeyChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func cefUnescape(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
			switch b[i] {
			case 'n':
				s.WriteByte('\n')
			case 'r':
				s.WriteByte('\r')
			default:
				s.WriteByte(b[i])
			}
			continue
		}
		s.WriteByte(b[i])
	}
	return s.String()
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	First, Last    uint64 // the delivered range
	Records        int    // distinct records
	Duplicates     int    // extra copies (identical)
	CheckpointSize uint64
	Origin         string
}

// API reads the proof endpoints of a Cairn server.
type API struct {
	Server, Key string
	HTTP        *http.Client
}

func (a *API) get(ctx context.Context, path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(a.Server, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Key)
	hc := a.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %w", path, feedError(resp))
	}
	if raw, ok := out.(*[]byte); ok {
		*raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return err
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}

// Checkpoint fetches a signed checkpoint note of the ledger as it is now
// (fresh=true).
func (a *API) Checkpoint(ctx context.Context) ([]byte, error) {
	var raw []byte
	err := a.get(ctx, "/api/v1/ledger/checkpoint", url.Values{"format": {"note"}, "fresh": {"true"}}, &raw)
	return raw, err
}

// Verify checks delivered records against a signed checkpoint: the records
// (duplicates must be identical) must form one contiguous range
// [First, Last] with no gap; each body must hash to its leaf hash and
// chain to the previous one (prev_hash); and the leaves must be those of
// the log the checkpoint (signed by log) commits to. The compact range
// left of First comes from the inclusion proof of First at tree size
// First+1 (untrusted: a wrong one cannot pass), the tree of size Last+1 is
// recomputed from the delivered leaves, and a consistency proof links it
// to the checkpoint.
func Verify(ctx context.Context, recs []Record, a *API, log note.Verifier, checkpointNote []byte) (*VerifyReport, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("no delivered records to verify")
	}
	cp, err := tree.OpenCheckpoint(checkpointNote, log)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{CheckpointSize: cp.Size, Origin: cp.Origin}
	byIndex, idx, err := distinctRecords(recs, rep)
	if err != nil {
		return nil, err
	}
	if err := contiguous(idx); err != nil {
		return rep, err
	}
	if rep.Last >= cp.Size {
		return rep, fmt.Errorf("the checkpoint (size %d) does not cover index %d: use a newer checkpoint", cp.Size, rep.Last)
	}
	left, err := a.leftRange(ctx, rep.First)
	if err != nil {
		return rep, err
	}
	v, err := tree.NewRootVerifier(rep.First, left)
	if err != nil {
		return rep, err
	}
	if err := appendChain(v, byIndex, idx); err != nil {
		return rep, err
	}
	root, err := v.Finish(rep.Last+1, nil)
	if err != nil {
		return rep, err
	}
	return rep, a.consistentWith(ctx, rep, cp, root)
}

// distinctRecords drops identical copies (counted in rep.Duplicates; copies
// that differ are an error) and returns the records by index and their
// indexes in order; it sets rep's range and record count.
func distinctRecords(recs []Record, rep *VerifyReport) (map[uint64]Record, []uint64, error) {
	byIndex := map[uint64]Record{}
	for _, r := range recs {
		if prev, ok := byIndex[r.Index]; ok {
			if !bytes.Equal(prev.Body, r.Body) {
				return nil, nil, fmt.Errorf("ledger index %d was delivered twice with different bodies", r.Index)
			}
			rep.Duplicates++
			continue
		}
		byIndex[r.Index] = r
	}
	idx := make([]uint64, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	rep.First, rep.Last, rep.Records = idx[0], idx[len(idx)-1], len(idx)
	return byIndex, idx, nil
}

// contiguous reports the first gap in the sorted indexes idx.
func contiguous(idx []uint64) error {
	if uint64(len(idx)) == idx[len(idx)-1]-idx[0]+1 {
		return nil
	}
	for k := 1; k < len(idx); k++ {
		if idx[k] != idx[k-1]+1 {
			return fmt.Errorf("gap: ledger indexes %d..%d were not delivered", idx[k-1]+1, idx[k]-1)
		}
	}
	return nil
}

// leftRange fetches the compact range [0, first) of the log: the path of
// the last leaf of the tree of size first+1, bottom-up, is that range,
// right to left. It is nil for first 0.
func (a *API) leftRange(ctx context.Context, first uint64) ([][]byte, error) {
	if first == 0 {
		return nil, nil
	}
	var p struct {
		Hashes []string `json:"hashes"`
	}
	q := url.Values{"index": {strconv.FormatUint(first, 10)}, "size": {strconv.FormatUint(first+1, 10)}}
	if err := a.get(ctx, "/api/v1/ledger/proof/inclusion", q, &p); err != nil {
		return nil, err
	}
	left, err := unhexAll(p.Hashes)
	if err != nil {
		return nil, err
	}
	slices.Reverse(left)
	return left, nil
}

// appendChain checks each record's leaf hash and prev_hash chain, in index
// order, and appends its leaf to v.
func appendChain(v *tree.RootVerifier, byIndex map[uint64]Record, idx []uint64) error {
	var prevHash string
	for k, i := range idx {
		r := byIndex[i]
		leaf, err := leafOf(r)
		if err != nil {
			return err
		}
		env, err := r.Envelope()
		if err != nil {
			return err
		}
		if k > 0 && env.PrevHash != prevHash {
			return fmt.Errorf("ledger index %d: prev_hash %s is not the leaf hash %s of index %d", i, env.PrevHash, prevHash, i-1)
		}
		prevHash = ledger.HashHex(leaf)
		if err := v.Append(leaf); err != nil {
			return err
		}
	}
	return nil
}

// consistentWith checks that root, the tree of size rep.Last+1, is the
// checkpoint's tree or, through a consistency proof, a prefix of it.
func (a *API) consistentWith(ctx context.Context, rep *VerifyReport, cp *tree.Checkpoint, root [32]byte) error {
	if rep.Last+1 == cp.Size {
		if root != cp.Root {
			return fmt.Errorf("the delivered records give root %x, the checkpoint %x", root, cp.Root)
		}
		return nil
	}
	var c struct {
		Hashes []string `json:"hashes"`
	}
	q := url.Values{"from": {strconv.FormatUint(rep.Last+1, 10)}, "to": {strconv.FormatUint(cp.Size, 10)}}
	if err := a.get(ctx, "/api/v1/ledger/proof/consistency", q, &c); err != nil {
		return err
	}
	hs, err := unhexAll(c.Hashes)
	if err != nil {
		return err
	}
	if err := tree.VerifyConsistency(rep.Last+1, cp.Size, hs, root, cp.Root); err != nil {
		return fmt.Errorf("the delivered records are not the log's entries %d..%d under the checkpoint: %w", rep.First, rep.Last, err)
	}
	return nil
}

// leafOf recomputes a record's leaf hash from its delivered body (as
// delivered, else its RFC 8785 form if a receiver re-serialised it) and
// checks the leaf hash delivered with it.
func leafOf(r Record) ([32]byte, error) {
	leaf := ledger.LeafHash(r.Body)
	if r.LeafHash != "" && ledger.HashHex(leaf) != r.LeafHash {
		canon, err := jcs.Transform(r.Body)
		if err == nil {
			leaf = ledger.LeafHash(canon)
		}
	}
	if r.LeafHash != "" && ledger.HashHex(leaf) != r.LeafHash {
		return leaf, fmt.Errorf("ledger index %d: the delivered body hashes to %s, not the delivered leaf hash %s", r.Index, ledger.HashHex(leaf), r.LeafHash)
	}
	return leaf, nil
}

func unhexAll(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("proof hash %q is not a hash", h)
		}
		out[i] = b
	}
	return out, nil
}
