package sbomgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseConfigTime(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"2024-05-06T07:08:09Z", at, false},
		{"2024-05-06t07:08:09z", at, false},
		{"2024-05-06T07:08:09z", at, false},
		{"2024-05-06t07:08:09Z", at, false},
		{"2024-05-06t07:08:09.5z", at.Add(500 * time.Millisecond), false},
		{"2024-05-06t09:08:09+02:00", at, false},
		{"2024-05-06 07:08:09Z", at, false},
		{"2024-05-06 07:08:09z", at, false},
		{"2024-05-06 07:08:09.123456789+00:00", at.Add(123456789), false},
		{"2024-05-06 09:08:09+02:00", at, false},
		{"2024-05-06T07:08:09-00:00", at, false},
		{"2024-05-06T07:08:09,5Z", at.Add(500 * time.Millisecond), false}, // as time.Time reads it
		{"2016-12-31T23:59:60Z", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"2016-12-31 23:59:60.5z", time.Date(2017, 1, 1, 0, 0, 0, 5e8, time.UTC), false},
		{"2024-05-06T07:08:61Z", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2024-05-06x07:08:09Z", time.Time{}, true},
		{"2024-05-06T07:08:09", time.Time{}, true},
		{"2024-05-06 07:08:09", time.Time{}, true},
		{"2024-05-06T07:08:09+0000", time.Time{}, true},
		{"2024-05-06T07:08:09zz", time.Time{}, true},
		{" 2024-05-06T07:08:09Z", time.Time{}, true},
		{"2024-05-06  07:08:09Z", time.Time{}, true},
		{"2024-05-06", time.Time{}, true},
		{"2024-05-06 ", time.Time{}, true},
		{"2024-05-06T07:08:60", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseConfigTime(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseConfigTime(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !bytes.Contains([]byte(err.Error()), []byte(tt.in)) {
				t.Errorf("error %q does not name %q as written", err, tt.in)
			}
			if !got.Equal(tt.want) {
				t.Errorf("parseConfigTime(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestConfigCreated scans images whose config's created time (the
// image's, or a history entry's) is one Go's time.Time does not read:
// "", RFC 3339 with a lower case "t" or "z", a space for the "T" or a
// leap second, or no time at all (no offset, a word, a number). The scan
// succeeds, the documents' creation time is the config's (the epoch for
// "" and for what is no time, which Options.Logf is told, naming the
// config and the value), and the documents record the config and
// manifest as they are (their digests and bytes), the same on every
// scan.
func TestConfigCreated(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	epoch := time.Unix(0, 0).UTC()
	set := func(v any) func(map[string]any) {
		return func(c map[string]any) { c["created"] = v }
	}
	history := func(v any) func(map[string]any) {
		return func(c map[string]any) {
			for _, h := range c["history"].([]any) {
				h.(map[string]any)["created"] = v
			}
		}
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want time.Time
		// bad is the value Logf is told the documents' creation time
		// does not come from ("" for none).
		bad string
	}{
		{"empty", set(""), epoch, ""},
		{"null", set(nil), epoch, ""},
		{"absent", func(c map[string]any) { delete(c, "created") }, epoch, ""},
		{"lower case t and z", set("2024-05-06t07:08:09z"), at, ""},
		{"lower case z", set("2024-05-06T07:08:09z"), at, ""},
		{"lower case t, offset", set("2024-05-06t09:08:09.75+02:00"), at, ""},
		{"space", set("2024-05-06 07:08:09Z"), at, ""},
		{"space, nanoseconds, offset", set("2024-05-06 07:08:09.123456789+00:00"), at, ""},
		{"leap second", set("2016-12-31T23:59:60Z"), time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"no offset", set("2024-05-06T07:08:09"), epoch, `"2024-05-06T07:08:09"`},
		{"not a time", set("yesterday"), epoch, `"yesterday"`},
		{"number", set(1714979289), epoch, `"1714979289"`},
		{"control bytes", set("\x1b[31m"), epoch, `"\x1b[31m"`},
		{"after 9999 in UTC", set("9999-12-31T23:59:59-01:00"), epoch, `"9999-12-31T23:59:59-01:00"`},
		{"leap second into 10000", set("9999-12-31T23:59:60Z"), epoch, `"9999-12-31T23:59:60Z"`},
		{"last second of 9999", set("9999-12-31T23:59:59Z"), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), ""},
		{"history empty", history(""), fixture.Epoch, ""},
		{"history lower case", history("2024-05-06t07:08:09z"), fixture.Epoch, ""},
		{"history space", history("2024-05-06 07:08:09Z"), fixture.Epoch, ""},
		{"history not a time", history("yesterday"), fixture.Epoch, ""},
		{"history number", history(12), fixture.Epoch, ""},
		{"both empty", func(c map[string]any) { set("")(c); history("")(c) }, epoch, ""},
		{"both not a time", func(c map[string]any) { set("2024-05-06T07:08:09")(c); history("2024")(c) }, epoch, `"2024-05-06T07:08:09"`},
		{"history entry null", func(c map[string]any) { c["history"] = append(c["history"].([]any), nil) }, fixture.Epoch, ""},
	}
	spec := fixture.Variants()
	spec.Images = spec.Images[:1]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, res := writeLayout(t, spec)
			var m ocispec.Manifest
			b, err := os.ReadFile(blobPath(dir, res.Manifests[0].Digest))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			desc := withConfig(t, dir, m, tt.edit)
			if err := json.Unmarshal(mustRead(t, blobPath(dir, desc.Digest)), &m); err != nil {
				t.Fatal(err)
			}
			rawCfg := mustRead(t, blobPath(dir, m.Config.Digest))

			var logs []string
			logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
			a := scan(t, dir, desc, Options{Formats: Formats(), Logf: logf})
			if !a.Created.Equal(tt.want) {
				t.Errorf("Created = %s, want %s", a.Created, tt.want)
			}
			switch {
			case tt.bad == "" && len(logs) > 0:
				t.Errorf("Logf told %q", logs)
			case tt.bad != "" && (len(logs) != 1 || !strings.Contains(logs[0], m.Config.Digest.String()) || !strings.Contains(logs[0], "created "+tt.bad+" is no RFC 3339 time")):
				t.Errorf("Logf told %q, want one note naming config %s and %s", logs, m.Config.Digest, tt.bad)
			}
			if a.PackageCount() == 0 {
				t.Error("no packages")
			}
			var s struct {
				CreationInfo struct{ Created string } `json:"creationInfo"`
			}
			if err := json.Unmarshal(doc(t, a, SPDXJSON), &s); err != nil {
				t.Fatal(err)
			}
			if want := tt.want.Format(time.RFC3339); s.CreationInfo.Created != want {
				t.Errorf("SPDX created %s, want %s", s.CreationInfo.Created, want)
			}
			var sj struct {
				Source struct {
					Metadata struct {
						ImageID        string `json:"imageID"`
						ManifestDigest string `json:"manifestDigest"`
						Config         []byte `json:"config"`
						Manifest       []byte `json:"manifest"`
					}
				}
			}
			if err := json.Unmarshal(doc(t, a, SyftJSON), &sj); err != nil {
				t.Fatal(err)
			}
			md := sj.Source.Metadata
			if md.ImageID != m.Config.Digest.String() || md.ManifestDigest != desc.Digest.String() {
				t.Errorf("syft JSON names config %s and manifest %s, want %s and %s", md.ImageID, md.ManifestDigest, m.Config.Digest, desc.Digest)
			}
			if !bytes.Equal(md.Config, rawCfg) {
				t.Errorf("syft JSON records the config as\n%s\nnot as its blob\n%s", md.Config, rawCfg)
			}
			for _, d := range a.Documents {
				if got, err := DescribedDigest(d.Format, d.Data); err != nil || got != desc.Digest {
					t.Errorf("%s: DescribedDigest = %s, %v; want %s", d.Format, got, err, desc.Digest)
				}
			}
			b2 := scan(t, dir, desc, Options{Formats: Formats()})
			for i := range a.Documents {
				if !bytes.Equal(a.Documents[i].Data, b2.Documents[i].Data) {
					t.Errorf("%s: two scans differ", a.Documents[i].Format)
				}
			}
		})
	}

	// A fixed creation time does not need the config's: no note.
	t.Run("not a time, fixed time", func(t *testing.T) {
		dir, res := writeLayout(t, spec)
		var m ocispec.Manifest
		if err := json.Unmarshal(mustRead(t, blobPath(dir, res.Manifests[0].Digest)), &m); err != nil {
			t.Fatal(err)
		}
		desc := withConfig(t, dir, m, set("yesterday"))
		var logs []string
		logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
		a := scan(t, dir, desc, Options{Created: at, Logf: logf})
		if !a.Created.Equal(at) || a.PackageCount() == 0 || len(logs) > 0 {
			t.Errorf("Created = %s, %d packages, Logf told %q; want %s, packages, nothing", a.Created, a.PackageCount(), logs, at)
		}
	})
}

// TestConfigFileCreated checks the config stereoscope reads
// (v1Image.ConfigFile) against the blob's: its created times read as
// configTime reads them, everything else as go-containerregistry parses
// it, and RawConfigFile the blob's bytes.
func TestConfigFileCreated(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name        string
		cfg         string
		created     time.Time
		historyTime []time.Time
	}{
		{"plain", `{"created":"2024-05-06T07:08:09Z","history":[{"created":"2024-05-06T07:08:09Z"}],"os":"linux"}`, at, []time.Time{at}},
		{"empty", `{"created":"","history":[{"created":""},{"created_by":"x"}],"os":"linux"}`, time.Time{}, []time.Time{{}, {}}},
		{"lower case", `{"created":"2024-05-06t07:08:09z","history":[{"created":"2024-05-06t07:08:09z"},null],"os":"linux"}`, at, []time.Time{at, {}}},
		{"space", `{"created":"2024-05-06 09:08:09+02:00","history":[{"created":"2024-05-06 07:08:09.5Z"}],"os":"linux"}`, at, []time.Time{at.Add(500 * time.Millisecond)}},
		{"not a time", `{"created":"2024-05-06T07:08:09","history":[{"created":"yesterday"},{"created":7},{"created":"2024-05-06T07:08:09Z"}],"os":"linux"}`, time.Time{}, []time.Time{{}, {}, at}},
		{"history not a list", `{"created":"","history":{},"os":"linux"}`, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := &fetchedImage{rawCfg: []byte(tt.cfg)}
			v := &v1Image{core: &imageCore{img: img}}
			cf, err := v.ConfigFile()
			if tt.historyTime == nil {
				// go-containerregistry's own error: history is no list.
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cf.Created.Equal(tt.created) || cf.OS != "linux" {
				t.Errorf("created %s, os %q; want %s, linux", cf.Created.Time, cf.OS, tt.created)
			}
			if len(cf.History) != len(tt.historyTime) {
				t.Fatalf("%d history entries, want %d", len(cf.History), len(tt.historyTime))
			}
			for i, h := range cf.History {
				if !h.Created.Equal(tt.historyTime[i]) {
					t.Errorf("history[%d] created %s, want %s", i, h.Created.Time, tt.historyTime[i])
				}
			}
			if raw, err := (&imageCore{img: img}).RawConfigFile(); err != nil || string(raw) != tt.cfg {
				t.Errorf("RawConfigFile = %s, %v", raw, err)
			}
		})
	}
}

// mustRead returns the content of the file at p, failing t.
func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
