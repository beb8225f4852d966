package convert_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertDanglingReferrer: a referrers tag that still lists a
// referrer whose manifest was deleted does not count it as converted: a
// rerun warns, writes it again, and only then strips.
func TestConvertDanglingReferrer(t *testing.T) {
	ctx := context.Background()
	for _, k := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(k), func(t *testing.T) {
			reg, err := registrytest.Launch(ctx, k, registrytest.Options{Delete: true})
			if errors.Is(err, registrytest.ErrUnavailable) && os.Getenv("AFFIX_INTEGRATION") != "1" {
				t.Skipf("%s: %v", k, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reg.Close() })
			src, root, _ := buildkitLayout(t, crafted{})
			r, _ := remote(t, reg.Host, "dangling")
			push(t, r, src, root, "v1")
			first, err := convert.Convert(ctx, r, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			gone := first.Platforms[0].Referrer.Digest
			req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/dangling/manifests/"+gone.String(), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("DELETE %s: %s", gone, resp.Status)
			}
			var mu sync.Mutex
			var warned []string
			res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true, Warnf: func(f string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				warned = append(warned, f)
			}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Platforms[0].Existed || !res.Platforms[1].Existed || res.Written() != 1 || len(res.Stripped) != 2 {
				t.Errorf("existed %v %v, written %d, stripped %d; want the deleted one written again", res.Platforms[0].Existed, res.Platforms[1].Existed, res.Written(), len(res.Stripped))
			}
			if len(warned) == 0 || !strings.Contains(strings.Join(warned, "\n"), "is gone") {
				t.Errorf("no warning about the deleted referrer: %q", warned)
			}
			if _, _, _, err := r.FetchManifest(ctx, gone.String()); err != nil {
				t.Errorf("referrer %s not there after the rerun: %v", gone, err)
			}
		})
	}
}
