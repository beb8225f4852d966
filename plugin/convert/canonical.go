package convert

import (
	"bytes"
	"encoding/json"
	"slices"
)

// canonicalWriter writes JSON values as encoding/json encodes them once
// decoded into interface values with UseNumber (maps with sorted keys,
// compact, strings escaped as an Encoder without HTML escaping does,
// numbers as written): nameImage's output must stay byte for byte what it
// was when it decoded whole documents into maps, which held about seven
// times a document's size in memory. An array is decoded and encoded one
// element at a time, so only a document's largest element is ever held
// decoded (a package, a relationship), never the whole.
type canonicalWriter struct {
	scratch bytes.Buffer
	enc     *json.Encoder
}

func newCanonicalWriter() *canonicalWriter {
	w := &canonicalWriter{}
	w.enc = json.NewEncoder(&w.scratch)
	w.enc.SetEscapeHTML(false)
	return w
}

// encode appends v, encoded as the Encoder encodes it, without its
// newline.
func (w *canonicalWriter) encode(buf *bytes.Buffer, v any) error {
	w.scratch.Reset()
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	buf.Write(bytes.TrimSuffix(w.scratch.Bytes(), []byte("\n")))
	return nil
}

// string appends s, encoded.
func (w *canonicalWriter) string(buf *bytes.Buffer, s string) {
	w.encode(buf, s) // a string always encodes
}

// raw appends the canonical form of the JSON value b. Of an array, each
// element but the one at index skip (-1: none) is decoded and encoded in
// turn; put writes the skipped one.
func (w *canonicalWriter) raw(buf *bytes.Buffer, b []byte, skip int, put func(*bytes.Buffer) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		return w.encode(buf, v)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	buf.WriteByte('[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		if i == skip {
			var elem json.RawMessage
			if err := dec.Decode(&elem); err != nil {
				return err
			}
			if err := put(buf); err != nil {
				return err
			}
			continue
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := w.encode(buf, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	buf.WriteByte(']')
	return nil
}

// members appends top, an object's members decoded as raw values, with
// replace's values in place of (or beside) its own: replace's values are
// appended as they are (already canonical, or compact JSON that stays as
// it is), the others in canonical form. It ends the line as an Encoder
// does.
func (w *canonicalWriter) members(buf *bytes.Buffer, top map[string]json.RawMessage, replace map[string]func(*bytes.Buffer) error) error {
	keys := make([]string, 0, len(top)+len(replace))
	for k := range top {
		keys = append(keys, k)
	}
	for k := range replace {
		if _, ok := top[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		w.string(buf, k)
		buf.WriteByte(':')
		if f, ok := replace[k]; ok {
			if err := f(buf); err != nil {
				return err
			}
			continue
		}
		if err := w.raw(buf, top[k], -1, nil); err != nil {
			return err
		}
	}
	buf.WriteString("}\n")
	return nil
}
