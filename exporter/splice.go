package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// This file rewrites the manifests field of an index at the byte level.
// Decoding an entry into ocispec.Descriptor and encoding it again loses
// what that type does not know (vendor fields of a descriptor, Docker's
// platform.features, an empty annotations object) and re-sorts and
// HTML-escapes the rest; so the entries kept are copied byte for byte, as
// is everything around the manifests array (the other fields, their order,
// the whitespace). An index formatted the same way throughout (compact, or
// indented consistently) so becomes exactly the old bytes minus the
// entries removed.

// entryEdit says what becomes of one entry of an index's manifests.
type entryEdit struct {
	// drop leaves the entry out.
	drop bool
	// digest, when set, replaces the entry's digest, and size its size
	// (the child was rewritten); its data field, if any, is dropped, the
	// old content's bytes.
	digest digest.Digest
	size   int64
}

// span is a range of bytes of a JSON text: [start, end).
type span struct{ start, end int }

// member is a member of a JSON object: the span of the whole member (key
// to the end of its value) and of its value.
type member struct {
	key   string
	all   span
	value span
}

var errSpliceSyntax = errors.New("malformed JSON")

// spliceManifests returns index with its manifests edited by edits, one
// per entry, in order. The index must hold exactly one field whose name
// encoding/json takes for "manifests", an array of len(edits) objects.
func spliceManifests(index []byte, edits []entryEdit) ([]byte, error) {
	if !json.Valid(index) {
		return nil, errSpliceSyntax
	}
	start := skipWS(index, 0)
	if start >= len(index) || index[start] != '{' {
		return nil, errors.New("the index is not a JSON object")
	}
	members, _, err := objectMembers(index, start)
	if err != nil {
		return nil, err
	}
	field := -1
	for i, m := range members {
		// encoding/json matches field names case-insensitively: the field
		// it decoded is the one edited.
		if strings.EqualFold(m.key, "manifests") {
			if field >= 0 {
				return nil, errors.New("the index has two manifests fields")
			}
			field = i
		}
	}
	if field < 0 {
		return nil, errors.New("the index has no manifests field")
	}
	arr := members[field].value
	if index[arr.start] != '[' {
		return nil, errors.New("the manifests field is not an array")
	}
	items, _, err := arrayElements(index, arr.start)
	if err != nil {
		return nil, err
	}
	if len(items) != len(edits) {
		return nil, fmt.Errorf("the manifests array has %d entries, %d decoded", len(items), len(edits))
	}
	var patchErr error
	out := rebuild(index, arr, items, "[]", func(i int) ([]byte, bool) {
		e := edits[i]
		if e.drop {
			return nil, false
		}
		raw := index[items[i].start:items[i].end]
		if e.digest == "" {
			return raw, true
		}
		b, err := patchEntry(raw, e.digest, e.size)
		if err != nil && patchErr == nil {
			patchErr = fmt.Errorf("entry %d: %w", i, err)
		}
		return b, true
	})
	if patchErr != nil {
		return nil, patchErr
	}
	var b bytes.Buffer
	b.Grow(len(index))
	b.Write(index[:arr.start])
	b.Write(out)
	b.Write(index[arr.end:])
	return b.Bytes(), nil
}

// patchEntry returns the descriptor object raw with its digest and size
// replaced, and its data field left out (it held the old content). Fields
// encoding/json would take for digest, size or data (any case) are all
// treated so.
func patchEntry(raw []byte, d digest.Digest, size int64) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	members, _, err := objectMembers(raw, 0)
	if err != nil {
		return nil, err
	}
	dq, _ := json.Marshal(d.String())
	sz := []byte(strconv.FormatInt(size, 10))
	items := make([]span, len(members))
	for i, m := range members {
		items[i] = m.all
	}
	return rebuild(raw, span{0, len(raw)}, items, "{}", func(i int) ([]byte, bool) {
		m := members[i]
		var v []byte
		switch {
		case strings.EqualFold(m.key, "data"):
			return nil, false
		case strings.EqualFold(m.key, "digest"):
			v = dq
		case strings.EqualFold(m.key, "size"):
			v = sz
		default:
			return raw[m.all.start:m.all.end], true
		}
		out := append([]byte{}, raw[m.all.start:m.value.start]...)
		return append(out, v...), true
	}), nil
}

// rebuild returns the container c of b (an object or array whose members
// or elements are items), keeping the items item returns true for, as it
// returns them. The bytes before the first item, after the last one, and
// between two items (the separator between the first two) are kept as
// they were; empty is the result when no item is kept.
func rebuild(b []byte, c span, items []span, empty string, item func(i int) ([]byte, bool)) []byte {
	var kept [][]byte
	for i := range items {
		if v, ok := item(i); ok {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		return []byte(empty)
	}
	sep := []byte(",")
	if len(items) > 1 {
		sep = b[items[0].end:items[1].start]
	}
	var out bytes.Buffer
	out.Write(b[c.start:items[0].start])
	for i, v := range kept {
		if i > 0 {
			out.Write(sep)
		}
		out.Write(v)
	}
	out.Write(b[items[len(items)-1].end:c.end])
	return out.Bytes()
}

// objectMembers returns the members of the object starting at b[i] ('{')
// and the offset just past it. b must be valid JSON.
func objectMembers(b []byte, i int) ([]member, int, error) {
	var out []member
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, i + 1, nil
	}
	for i < len(b) {
		ks := i
		ke, err := skipValue(b, i)
		if err != nil {
			return nil, 0, err
		}
		var key string
		if err := json.Unmarshal(b[ks:ke], &key); err != nil {
			return nil, 0, errSpliceSyntax
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, errSpliceSyntax
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, member{key: key, all: span{ks, ve}, value: span{vs, ve}})
		i = skipWS(b, ve)
		if i >= len(b) {
			break
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return out, i + 1, nil
		default:
			return nil, 0, errSpliceSyntax
		}
	}
	return nil, 0, errSpliceSyntax
}

// arrayElements returns the spans of the elements of the array starting at
// b[i] ('[') and the offset just past it. b must be valid JSON.
func arrayElements(b []byte, i int) ([]span, int, error) {
	var out []span
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, i + 1, nil
	}
	for i < len(b) {
		e, err := skipValue(b, i)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, span{i, e})
		i = skipWS(b, e)
		if i >= len(b) {
			break
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return out, i + 1, nil
		default:
			return nil, 0, errSpliceSyntax
		}
	}
	return nil, 0, errSpliceSyntax
}

// skipWS returns the offset of the first byte at or after i that is not
// JSON whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the JSON value starting at b[i].
// b must be valid JSON: it checks only what it needs not to run off.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSpliceSyntax
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errSpliceSyntax
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errSpliceSyntax
	default:
		j := i
		for j < len(b) && !strings.ContainsRune(",]} \t\r\n", rune(b[j])) {
			j++
		}
		if j == i {
			return 0, errSpliceSyntax
		}
		return j, nil
	}
}
