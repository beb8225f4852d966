package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/idna"

	"github.com/affix-oci/affix/internal/oci"
)

// The fuzz targets of this file feed what a registry answers (Link and
// Retry-After headers, ETags, referrers indexes) and subject digests to
// the exporter's parsers.

// tagGrammar is the distribution spec's tag.
var tagGrammar = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// FuzzReferrersTag checks the referrers tag of fuzzed digests: for a
// digest, a valid tag of at most 128 characters, "<alg>-<hex>" for
// sha256 (so distinct sha256 digests get distinct tags), a function of
// the digest.
func FuzzReferrersTag(f *testing.F) {
	for _, s := range []string{
		"sha256:" + strings.Repeat("a", 64), "sha512:" + strings.Repeat("b", 128), "sha384:" + strings.Repeat("c", 96),
		"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", strings.Repeat("x", 40) + ":" + strings.Repeat("0", 200),
		"a.b_c-d:0123456789abcdef0123456789abcdef", "sha256:", ":", "", "nocolon", "é:é", "SHA256:AB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := digest.Digest(s)
		tag := ReferrersTag(d)
		if tag != ReferrersTag(d) {
			t.Fatal("ReferrersTag is not deterministic")
		}
		if len(tag) > 128 {
			t.Fatalf("ReferrersTag(%q) = %q: %d characters", s, tag, len(tag))
		}
		if _, err := digest.Parse(s); err != nil {
			return // a subject is a manifest's digest, parsed before it gets here
		}
		if !tagGrammar.MatchString(tag) {
			t.Fatalf("ReferrersTag(%q) = %q: not a tag", s, tag)
		}
		if d.Algorithm() == digest.SHA256 && tag != "sha256-"+d.Encoded() {
			t.Fatalf("ReferrersTag(%q) = %q", s, tag)
		}
	})
}

// FuzzNextLink follows fuzzed Link headers from fuzzed registry URLs: a
// next page is never on another origin (scheme, host, port), an error
// quotes the header, and no header means no next page.
func FuzzNextLink(f *testing.F) {
	for _, s := range [][2]string{
		{"https://registry.example.com/v2/app/referrers/sha256:abc", `</v2/app/referrers/sha256:abc?n=2&last=x>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<https://registry.example.com:443/v2/next>; rel=next`},
		{"https://registry.example.com/v2/app/referrers/x", `<http://registry.example.com/v2/next>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<//evil.example/v2/next>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<https://registry.example.com@evil.example/>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<https://REGISTRY.example.com./v2/next>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<https://evil.example/a>; rel="prev", </b>; rel="next"`},
		{"https://registry.k8s.example/v2/app/referrers/x", "<https://registry.\u212a8s.example/v2/next>; rel=\"next\""},
		{"https://registry.example.com/v2/app/referrers/x", "<https://regi\u017ftry.example.com/v2/next>; rel=\"next\""},
		{"https://registry.example.com/v2/app/referrers/x", "<https://reg\u0131stry.example.com/v2/next>; rel=\"next\""},
		{"http://127.0.0.1:5000/v2/a/referrers/x", `<http://127.0.0.1:5000/v2/next>; rel="next"`},
		{"http://[::1]:5000/v2/a/referrers/x", `<http://[::1]:5001/v2/next>; rel="next"`},
		{"http://[::1]:5000/v2/a/referrers/x", `<%zz>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", `<javascript:alert(1)>; rel="next"`},
		{"https://registry.example.com/v2/app/referrers/x", ``},
		{"https://registry.example.com/v2/app/referrers/x", `garbage`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rawBase, header string) {
		base, err := url.Parse(rawBase)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return // the URL of a request affix sent
		}
		if _, err := idna.Lookup.ToASCII(base.Hostname()); err != nil {
			// A host that cannot be dialled sends no Link header.
			// (strings.EqualFold takes any two invalid UTF-8 bytes for
			// equal, so "\xbf" and "\xe2" would be one origin.)
			return
		}
		next, err := nextLink(base, header)
		if header == "" && (next != "" || err != nil) {
			t.Fatalf("nextLink(%s, \"\") = %q, %v", base, next, err)
		}
		if err != nil {
			if next != "" {
				t.Fatalf("nextLink returned %q with error %v", next, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(header)) {
				t.Errorf("nextLink: %v does not quote the header", err)
			}
			return
		}
		if next == "" {
			return
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("nextLink returned %q, which does not parse: %v", next, err)
		}
		if !strings.EqualFold(u.Scheme, base.Scheme) || dialHost(u.Hostname()) != dialHost(base.Hostname()) || port(u) != port(base) {
			t.Fatalf("nextLink(%s, %q) = %s: another origin", base, header, next)
		}
	})
}

// dialHost is the host net/http connects to for a URL's hostname h: h
// mapped by IDNA (UTS #46, as the transport does for a non-ASCII host),
// ASCII letters lowered. A host IDNA refuses cannot be dialled; it stands
// for itself. (sameOrigin compares with strings.EqualFold, whose Unicode
// folding also takes U+212A KELVIN SIGN for k and U+017F LONG S for s:
// IDNA maps both to those letters, so they are the same host.)
func dialHost(h string) string {
	if a, err := idna.Lookup.ToASCII(h); err == nil {
		h = a
	}
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, h)
}

// port is u's port, the scheme's default when none is given.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// FuzzRetryAfter parses fuzzed Retry-After headers on fuzzed status codes:
// only a 429 or 503 is honoured; a wait is never negative; a number of
// seconds is that many seconds, or, past what a time.Duration holds, at
// least the longest wait one holds (a registry asking for a very long wait
// is not retried early); an HTTP date is at most the time until then.
func FuzzRetryAfter(f *testing.F) {
	now := time.Now().UTC()
	for _, s := range []struct {
		code int
		v    string
	}{
		{429, "5"}, {503, "0"}, {503, "120"}, {500, "5"}, {200, "1"}, {429, ""}, {429, "-1"}, {429, "+3"}, {429, " 5"}, {429, "1.5"},
		{429, "9223372036"}, {429, "9223372037"}, {429, "9227000000"}, {429, "18446744074"}, {429, "99999999999999999999"}, {503, now.Add(time.Hour).Format(http.TimeFormat)},
		{503, now.Add(-time.Hour).Format(http.TimeFormat)}, {429, "Sun, 06 Nov 1994 08:49:37 GMT"}, {429, "Monday, 06-Nov-94 08:49:37 GMT"},
		{429, "Sun Nov  6 08:49:37 1994"}, {429, "Fri, 31 Dec 9999 23:59:59 GMT"},
	} {
		f.Add(s.code, s.v)
	}
	f.Fuzz(func(t *testing.T, code int, v string) {
		resp := &http.Response{StatusCode: code, Header: http.Header{}}
		if v != "" {
			resp.Header.Set("Retry-After", v)
		}
		before := time.Now()
		d, ok := retryAfter(resp)
		if !ok {
			if d != 0 {
				t.Fatalf("retryAfter(%d, %q) = %v without a wait", code, v, d)
			}
			return
		}
		if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
			t.Fatalf("retryAfter honoured %q on a %d", v, code)
		}
		if d < 0 {
			t.Fatalf("retryAfter(%d, %q) = %v: a negative wait", code, v, d)
		}
		if n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 64); err == nil {
			const maxSeconds = uint64(1<<63-1) / uint64(time.Second)
			if n <= maxSeconds && d != time.Duration(n)*time.Second {
				t.Fatalf("retryAfter(%q) = %v, want %ds", v, d, n)
			}
			if n > maxSeconds && d < time.Duration(maxSeconds)*time.Second {
				t.Fatalf("retryAfter(%q) = %v: shorter than asked", v, d)
			}
			return
		}
		if when, err := http.ParseTime(v); err == nil && d > max(when.Sub(before), 0) {
			t.Fatalf("retryAfter(%q) = %v: longer than until then", v, d)
		}
	})
}

// FuzzStrongETag checks what may be sent in If-Match: nothing for a weak
// ETag, else the ETag as the registry sent it, trimmed; a value that may
// go in a header stays one.
func FuzzStrongETag(f *testing.F) {
	for _, s := range []string{`"sha256:abc"`, `W/"abc"`, ` "abc" `, `w/"abc"`, `W/`, ``, `abc`, "\t\"x\"\r\n", `"a"W/`, " W/\"x\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := StrongETag(s)
		if e == "" {
			return
		}
		if e != strings.TrimSpace(s) || strings.HasPrefix(e, "W/") {
			t.Fatalf("StrongETag(%q) = %q", s, e)
		}
		if StrongETag(e) != e {
			t.Fatalf("StrongETag is not idempotent on %q", s)
		}
		if httpguts.ValidHeaderFieldValue(s) && !httpguts.ValidHeaderFieldValue(e) {
			t.Fatalf("StrongETag(%q) = %q: not a header value", s, e)
		}
	})
}

// fuzzTarget answers FetchManifest with one manifest and records pushes.
type fuzzTarget struct {
	desc   ocispec.Descriptor
	data   []byte
	etag   string
	err    error
	pushed map[string][]byte
}

func (f *fuzzTarget) Name() string { return "fuzz" }
func (f *fuzzTarget) Exists(context.Context, ocispec.Descriptor) (bool, error) {
	return false, nil
}
func (f *fuzzTarget) PushBlob(context.Context, ocispec.Descriptor, func() (io.ReadCloser, error)) error {
	return nil
}
func (f *fuzzTarget) PushManifest(_ context.Context, desc ocispec.Descriptor, data []byte, reference, _ string) (digest.Digest, error) {
	if desc.Digest != digest.FromBytes(data) {
		return "", fmt.Errorf("pushed %s with the digest of other bytes", reference)
	}
	f.pushed[reference] = data
	return "", nil
}
func (f *fuzzTarget) FetchManifest(context.Context, string) (ocispec.Descriptor, []byte, string, error) {
	return f.desc, f.data, f.etag, f.err
}

// FuzzReferrersIndex reads fuzzed referrers tag contents as a registry
// may serve them (any media type, any bytes, any ETag, maybe the subject
// itself). Anything but an image index that does not list the subject is
// ErrReferrersTagConflict naming the tag; an index read is an OCI image
// index whose ETag, when kept, is strong. Adding an entry lists it once
// and keeps the others, the first of each digest, in order; the index
// written reads back the same; NewestFirst returns the entries of a type,
// newest first.
func FuzzReferrersIndex(f *testing.F) {
	sub := digest.FromString("subject")
	entry := func(d digest.Digest, at, created string) string {
		ann := ""
		if created != "" {
			ann = `,"annotations":{"org.opencontainers.image.created":"` + created + `"}`
		}
		return `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":512,"artifactType":"` + at + `"` + ann + `}`
	}
	idx := func(entries ...string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(entries, ",") + `]}`)
	}
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	for _, s := range []struct {
		data []byte
		mt   string
		etag string
		self bool
	}{
		{idx(entry(a, "application/spdx+json", "2024-01-01T00:00:00Z"), entry(b, "application/spdx+json", "2025-01-01T00:00:00Z")), ocispec.MediaTypeImageIndex, `"e1"`, false},
		{idx(entry(a, "application/spdx+json", ""), entry(a, "application/spdx+json", "2024-01-01T00:00:00+02:00"), entry(c, "application/vnd.cyclonedx+json", "x")), ocispec.MediaTypeImageIndex, `W/"e2"`, false},
		{idx(entry(sub, "application/spdx+json", "")), ocispec.MediaTypeImageIndex, "", false},
		{idx(), ocispec.MediaTypeImageIndex, "", true},
		{[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`), ocispec.MediaTypeImageManifest, "", false},
		{[]byte(`{"manifests":[{"digest":"nocolon"},{"digest":""},{}]}`), ocispec.MediaTypeImageIndex, "", false},
		{[]byte(`{"manifests":null}`), ocispec.MediaTypeImageIndex, "", false},
		{[]byte(`{"manifests":{}}`), ocispec.MediaTypeImageIndex, "", false},
		{[]byte(``), ocispec.MediaTypeImageIndex, "", false},
		{idx(entry(a, "application/spdx+json", "")), oci.MediaTypeDockerManifestList, "", false},
	} {
		f.Add(s.data, s.mt, s.etag, s.self, "application/spdx+json", "2024-06-01T00:00:00Z")
	}
	f.Fuzz(func(t *testing.T, data []byte, mt, etag string, self bool, artifactType, created string) {
		ctx := context.Background()
		tgt := &fuzzTarget{desc: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, data: data, etag: etag, pushed: map[string][]byte{}}
		subject := sub
		if self {
			subject = tgt.desc.Digest
		}
		tag := ReferrersTag(subject)
		ri, err := readReferrersIndex(ctx, tgt, subject)
		if err != nil {
			if !errors.Is(err, ErrReferrersTagConflict) || !strings.Contains(err.Error(), tag) {
				t.Fatalf("readReferrersIndex: %v; want ErrReferrersTagConflict naming %s", err, tag)
			}
			return
		}
		if mt != ocispec.MediaTypeImageIndex || subject == tgt.desc.Digest {
			t.Fatalf("read a referrers index from %s %s (subject %s)", mt, tgt.desc.Digest, subject)
		}
		if ri.index.MediaType != ocispec.MediaTypeImageIndex || ri.index.SchemaVersion != 2 || ri.etag != StrongETag(etag) {
			t.Fatalf("read index %+v, etag %q", ri.index.Versioned, ri.etag)
		}
		if ri.has(subject) {
			t.Fatalf("read an index listing the subject %s", subject)
		}

		// NewestFirst: the entries of the type, newest first.
		refs := ri.index.Manifests
		sorted := NewestFirst(refs, artifactType)
		var want []int
		for i, r := range refs {
			if r.ArtifactType == artifactType {
				want = append(want, i)
			}
		}
		if len(sorted) != len(want) {
			t.Fatalf("NewestFirst returned %d of %d entries", len(sorted), len(want))
		}
		for i := 1; i < len(sorted); i++ {
			if Created(sorted[i]).After(Created(sorted[i-1])) {
				t.Fatalf("NewestFirst: entry %d (%v) is newer than entry %d (%v)", i, Created(sorted[i]), i-1, Created(sorted[i-1]))
			}
		}

		// The entry affix adds: its strings are UTF-8 (an artifact type is
		// ASCII, CheckMediaType), as JSON keeps them.
		e := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(created), Size: 600, ArtifactType: strings.ToValidUTF8(artifactType, "\uFFFD"),
			Annotations: map[string]string{"org.opencontainers.image.created": strings.ToValidUTF8(created, "\uFFFD")}}
		before := slices.Clone(ri.index.Manifests)
		ri.add(e)
		if !ri.has(e.Digest) {
			t.Fatalf("add did not add %s", e.Digest)
		}
		var firsts []ocispec.Descriptor
		seen := map[digest.Digest]bool{}
		for _, m := range append(before, e) {
			if !seen[m.Digest] {
				seen[m.Digest] = true
				firsts = append(firsts, m)
			}
		}
		if len(ri.index.Manifests) != len(firsts) {
			t.Fatalf("after add: %d entries, want %d (one of each digest)", len(ri.index.Manifests), len(firsts))
		}
		for i := range firsts {
			if ri.index.Manifests[i].Digest != firsts[i].Digest {
				t.Fatalf("after add: entry %d is %s, want %s", i, ri.index.Manifests[i].Digest, firsts[i].Digest)
			}
		}

		err = writeReferrersIndex(ctx, tgt, subject, ri)
		if err != nil {
			return // too large, or an entry that does not encode
		}
		written, ok := tgt.pushed[tag]
		if !ok {
			t.Fatalf("written under %v, not %s", mapKeys(tgt.pushed), tag)
		}
		back := &fuzzTarget{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(written), Size: int64(len(written))}, data: written, pushed: map[string][]byte{}}
		ri2, err := readReferrersIndex(ctx, back, subject)
		if err != nil {
			t.Fatalf("reading back the index written: %v", err)
		}
		b1, _ := json.Marshal(ri.index)
		b2, _ := json.Marshal(ri2.index)
		if string(b1) != string(b2) {
			t.Fatalf("index written reads back differently:\n%s\n%s", b1, b2)
		}
	})
}

func mapKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
