package frontend

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/buildkit/client"
)

func TestParseCache(t *testing.T) {
	insecure := func(host string) bool { return host == "localhost:5000" }
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	type entry = client.CacheOptionsEntry
	for _, c := range []struct {
		name    string
		export  bool
		in      []string
		want    []entry
		wantErr string // substring; "" for success
		wantIs  error  // a cause the error wraps, besides ErrInvalidOption
	}{
		{name: "none", in: nil, want: []entry{}},
		{name: "bare reference is a registry cache", in: []string{"registry.example.com/app:cache"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache"}}}},
		{name: "export defaults to mode=min", export: true, in: []string{"type=registry,ref=registry.example.com/app:cache"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache", "mode": "min"}}}},
		{name: "mode=max and attributes kept", export: true, in: []string{"type=registry,ref=r.example/app:c,mode=max,image-manifest=true,oci-mediatypes=true"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "r.example/app:c", "mode": "max", "image-manifest": "true", "oci-mediatypes": "true"}}}},
		{name: "insecure registry host", in: []string{"localhost:5000/app:cache", "type=registry,ref=localhost:5001/app:cache"},
			want: []entry{
				{Type: "registry", Attrs: map[string]string{"ref": "localhost:5000/app:cache", "registry.insecure": "true"}},
				{Type: "registry", Attrs: map[string]string{"ref": "localhost:5001/app:cache"}},
			}},
		{name: "explicit registry.insecure wins", in: []string{"type=registry,ref=localhost:5000/app:cache,registry.insecure=false"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "localhost:5000/app:cache", "registry.insecure": "false"}}}},
		{name: "local import", in: []string{"type=local,src=/tmp/cache"},
			want: []entry{{Type: "local", Attrs: map[string]string{"src": "/tmp/cache"}}}},
		{name: "local export", export: true, in: []string{"type=local,dest=/tmp/cache,mode=max"},
			want: []entry{{Type: "local", Attrs: map[string]string{"dest": "/tmp/cache", "mode": "max"}}}},
		{name: "inline export", export: true, in: []string{"type=inline"},
			want: []entry{{Type: "inline", Attrs: map[string]string{"mode": "min"}}}},

		{name: "local export to a new directory", export: true, in: []string{"type=local,dest=" + dir + "/new/cache"},
			want: []entry{{Type: "local", Attrs: map[string]string{"dest": dir + "/new/cache", "mode": "min"}}}},
		{name: "local import from a missing directory", in: []string{"type=local,src=" + dir + "/none"},
			want: []entry{{Type: "local", Attrs: map[string]string{"src": dir + "/none"}}}},
		{name: "local export to a file", export: true, in: []string{"type=local,dest=" + file},
			wantErr: `cache-to "type=local,dest=` + file + `": dest: ` + file + ` is not a directory`},
		{name: "local export under a file", export: true, in: []string{"type=local,dest=" + file + "/sub/c"},
			wantErr: `cache-to "type=local,dest=` + file + `/sub/c": dest: ` + file + ` is not a directory, so ` + file + `/sub/c cannot be made`},
		{name: "local import from a file", in: []string{"type=local,src=" + file},
			wantErr: `cache-from "type=local,src=` + file + `": src: ` + file + ` is not a directory`},
		{name: "local import from under a file", in: []string{"type=local,src=" + file + "/sub/c"},
			wantErr: `cache-from "type=local,src=` + file + `/sub/c": src: ` + file + ` is not a directory, so ` + file + `/sub/c cannot be one`},
		{name: "local import from a symlink loop", in: []string{"type=local,src=" + loop + "/c"},
			wantErr: `cache-from "type=local,src=` + loop + `/c": src: `, wantIs: syscall.ELOOP},
		{name: "inline is not an import", in: []string{"type=inline"}, wantErr: `cache-from "type=inline": unknown cache type "inline"`},
		{name: "unknown type", export: true, in: []string{"type=nfs,dest=/x"}, wantErr: `cache-to "type=nfs,dest=/x": unknown cache type "nfs"`},
		{name: "registry without ref", in: []string{"type=registry"}, wantErr: `cache-from "type=registry": registry cache ref ""`},
		{name: "invalid reference", in: []string{"Not A Ref"}, wantErr: `cache-from "Not A Ref": registry cache ref "Not A Ref"`},
		{name: "local import without src", in: []string{"type=local,dest=/x"}, wantErr: "a local cache needs src=DIR"},
		{name: "local export without dest", export: true, in: []string{"type=local,src=/x"}, wantErr: "a local cache needs dest=DIR"},
		{name: "bad mode", export: true, in: []string{"type=local,dest=/x,mode=all"}, wantErr: `mode "all": want min or max`},
		{name: "field without =", in: []string{"type=local,src"}, wantErr: `cache-from "type=local,src"`},
		{name: "empty", export: true, in: []string{" "}, wantErr: "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := parseCache(c.export, c.in, insecure)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidOption) {
					t.Fatalf("parseCache(%q) = %v, %v; want an ErrInvalidOption containing %q", c.in, got, err, c.wantErr)
				}
				if c.wantIs != nil && !errors.Is(err, c.wantIs) {
					t.Errorf("parseCache(%q): %v does not wrap %v", c.in, err, c.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("parseCache(%q) =\n%+v\nwant\n%+v", c.in, got, c.want)
			}
		})
	}
}

// TestGHAInactive: a gha cache is used when a token and a URL are
// given or in the GitHub Actions environment, and left out otherwise,
// as buildx does; other types are never left out.
func TestGHAInactive(t *testing.T) {
	actions := map[string]string{"ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_CACHE_URL": "https://c/"}
	v2 := map[string]string{"ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_RESULTS_URL": "https://r/"}
	tokenOnly := map[string]string{"ACTIONS_RUNTIME_TOKEN": "t"}
	for _, tt := range []struct {
		in       string
		env      map[string]string
		inactive bool
	}{
		{"type=gha", nil, true},
		{"type=gha,mode=max,scope=app", nil, true},
		{"type=gha", tokenOnly, true},
		{"type=gha,token=t", nil, true},
		{"type=gha,url=https://c/", nil, true},
		{"type=gha", actions, false},
		{"type=gha", v2, false},
		{"type=gha,url=https://c/", tokenOnly, false},
		{"type=gha,url_v2=https://r/,token=t", nil, false},
		{"TYPE=gha,Token=t,URL=https://c/", nil, false},
		{"type=registry,ref=r.example/a:c", nil, false},
		{"type=local,src=/c", nil, false},
		{"type=gha,token", nil, false}, // the parser says what is wrong
		{`type=gha,"unterminated`, nil, false},
	} {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		if got := ghaInactive(tt.in, lookup); got != tt.inactive {
			t.Errorf("ghaInactive(%q, %v) = %v, want %v", tt.in, tt.env, got, tt.inactive)
		}
	}
}

// TestParseCacheSkipsInactiveGHA: outside GitHub Actions a gha cache
// is left out with a warning naming it (its token redacted), the other
// caches kept; inside, it is BuildKit's entry with the environment's
// token and URL.
func TestParseCacheSkipsInactiveGHA(t *testing.T) {
	for _, k := range []string{"ACTIONS_RUNTIME_TOKEN", "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_CACHE_SERVICE_V2"} {
		t.Setenv(k, "")
	}
	in := []string{"type=gha,mode=max,token=S3CR3T", "type=local,dest=" + t.TempDir()}
	got, warnings, err := parseCache(true, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != "local" {
		t.Errorf("parseCache(%q) = %+v, want the local cache alone", in, got)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `--cache-to "type=gha,mode=max,token=***": skipped`) || strings.Contains(warnings[0], "S3CR3T") {
		t.Errorf("warnings = %q, want one naming the gha cache, token redacted", warnings)
	}

	t.Setenv("ACTIONS_RUNTIME_TOKEN", "tok")
	t.Setenv("ACTIONS_CACHE_URL", "https://cache.example/")
	got, warnings, err = parseCache(false, []string{"type=gha,scope=app"}, nil)
	want := []client.CacheOptionsEntry{{Type: "gha", Attrs: map[string]string{"scope": "app", "token": "tok", "url": "https://cache.example/"}}}
	if err != nil || len(warnings) != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("parseCache in GitHub Actions = %+v, %q, %v; want %+v", got, warnings, err, want)
	}
}

// TestCloneCache: each solve gets attribute maps of its own, which the
// BuildKit client may write into.
func TestCloneCache(t *testing.T) {
	in := []client.CacheOptionsEntry{{Type: "local", Attrs: map[string]string{"src": "/c"}}}
	out := cloneCache(in)
	out[0].Attrs["digest"] = "sha256:x"
	if _, ok := in[0].Attrs["digest"]; ok || !reflect.DeepEqual(out[0].Attrs, map[string]string{"src": "/c", "digest": "sha256:x"}) {
		t.Errorf("cloneCache shares attributes: in %v, out %v", in[0].Attrs, out[0].Attrs)
	}
	if cloneCache(nil) != nil {
		t.Error("cloneCache(nil) is not nil")
	}
}

func TestAddS3Credentials(t *testing.T) {
	found := func(context.Context) (awsCreds, bool) { return awsCreds{"AKID", "SECRET", "TOKEN", "test"}, true }
	none := func(context.Context) (awsCreds, bool) { return awsCreds{}, false }
	tests := []struct {
		name  string
		in    string
		creds func(context.Context) (awsCreds, bool)
		want  map[string]string
	}{{
		name:  "credentials added",
		in:    "type=s3,region=eu-west-1,bucket=b",
		creds: found,
		want:  map[string]string{"region": "eu-west-1", "bucket": "b", "access_key_id": "AKID", "secret_access_key": "SECRET", "session_token": "TOKEN"},
	}, {
		name:  "a key pair the value names is kept, token and all",
		in:    "type=s3,region=r,bucket=b,access_key_id=MINE,secret_access_key=MYSECRET",
		creds: found,
		want:  map[string]string{"region": "r", "bucket": "b", "access_key_id": "MINE", "secret_access_key": "MYSECRET"},
	}, {
		name:  "a session token the value sets is kept",
		in:    "type=s3,region=r,bucket=b,session_token=MINE",
		creds: found,
		want:  map[string]string{"region": "r", "bucket": "b", "access_key_id": "AKID", "secret_access_key": "SECRET", "session_token": "MINE"},
	}, {
		name:  "no credentials leave the builder's own",
		in:    "type=s3,region=r,bucket=b",
		creds: none,
		want:  map[string]string{"region": "r", "bucket": "b"},
	}, {
		name:  "other cache types are untouched",
		in:    "type=local,src=/nonexistent/affix",
		creds: found,
		want:  map[string]string{"src": "/nonexistent/affix"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, _, err := parseCache(false, []string{tt.in}, nil)
			if err != nil {
				t.Fatal(err)
			}
			addS3Credentials(context.Background(), tt.creds, es)
			if !reflect.DeepEqual(es[0].Attrs, tt.want) {
				t.Errorf("attrs %v, want %v", es[0].Attrs, tt.want)
			}
		})
	}
}

// TestAddS3CredentialsLooksOnce checks that the credentials are looked
// up once for every entry, and not at all when no entry needs them.
func TestAddS3CredentialsLooksOnce(t *testing.T) {
	n := 0
	creds := func(context.Context) (awsCreds, bool) { n++; return awsCreds{id: "A", secret: "S"}, true }
	imports, _, _ := parseCache(false, []string{"type=s3,region=r,bucket=a", "type=s3,region=r,bucket=b"}, nil)
	exports, _, _ := parseCache(true, []string{"type=s3,region=r,bucket=c"}, nil)
	addS3Credentials(context.Background(), creds, imports, exports)
	if n != 1 {
		t.Errorf("looked up %d times, want 1", n)
	}
	for _, e := range append(imports, exports...) {
		if e.Attrs["access_key_id"] != "A" || e.Attrs["secret_access_key"] != "S" {
			t.Errorf("%v", e.Attrs)
		}
	}
	n = 0
	local, _, _ := parseCache(false, []string{"type=local,src=/nonexistent/affix"}, nil)
	addS3Credentials(context.Background(), creds, local)
	if n != 0 {
		t.Errorf("looked up %d times for no s3 cache", n)
	}
}

// TestAWSCredentials reads the credentials of the AWS SDK's default chain
// from the environment, as a CI job exports them, and from a profile in
// the shared credentials file.
func TestAWSCredentials(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credsFile, []byte("[ci]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = PROFILESECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	isolate := func(t *testing.T) {
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no instance role look-up
	}
	t.Run("environment", func(t *testing.T) {
		isolate(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
		t.Setenv("AWS_SESSION_TOKEN", "ENVTOKEN")
		c, ok := awsCredentials(context.Background())
		if !ok || c.id != "ENVKEY" || c.secret != "ENVSECRET" || c.token != "ENVTOKEN" || c.source == "" {
			t.Errorf("got %+v %v", c, ok)
		}
	})
	t.Run("profile", func(t *testing.T) {
		isolate(t)
		t.Setenv("AWS_PROFILE", "ci")
		c, ok := awsCredentials(context.Background())
		if !ok || c.id != "PROFILEKEY" || c.secret != "PROFILESECRET" || c.token != "" {
			t.Errorf("got %+v %v", c, ok)
		}
	})
	t.Run("none", func(t *testing.T) {
		isolate(t)
		if _, ok := awsCredentials(context.Background()); ok {
			t.Error("credentials found where there are none")
		}
	})
}

// TestParseCacheSecrets: half an s3 key pair is refused, and no message
// quotes a secret typed into the value.
func TestParseCacheSecrets(t *testing.T) {
	for _, tt := range []struct {
		export bool
		in     string
		want   string // in the error
	}{
		{false, "type=s3,region=r,bucket=b,access_key_id=MINE", "access_key_id and secret_access_key go together"},
		{false, "type=s3,region=r,bucket=b,secret_access_key=S3CR3T", `"type=s3,region=r,bucket=b,secret_access_key=***"`},
		{true, "type=s3,region=r,bucket=b,access_key_id=A,secret_access_key=S3CR3T,session_token=S3CR3T,mode=all", `secret_access_key=***,session_token=***,mode=all`},
		{true, "type=gha,url=http://c,token=S3CR3T,mode=all", `"type=gha,url=http://c,token=***,mode=all"`},
		{false, `type=nosuch,"token=S3CR3T"`, `\"token=***\"`},
		{true, "type=gha,url=http://c,token=S3CR3T,ghtoken=S3CR3T,mode=all", `"type=gha,url=http://c,token=***,ghtoken=***,mode=all"`},
		{false, `type=nosuch,"secret_access_key=S3CR3T,S3CR3T",mode=x`, `\"secret_access_key=***\",mode=x`},
	} {
		_, _, err := parseCache(tt.export, []string{tt.in}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "S3CR3T") {
			t.Errorf("parseCache(%q): %v, want an error with %q and no secret", tt.in, err, tt.want)
		}
	}
}

// TestAddS3CredentialsLog: the progress names where the credentials came
// from, never what they are.
func TestAddS3CredentialsLog(t *testing.T) {
	for _, tt := range []struct {
		creds func(context.Context) (awsCreds, bool)
		want  string
	}{
		{func(context.Context) (awsCreds, bool) {
			return awsCreds{"AKIDVALUE", "SECRETVALUE", "TOKENVALUE", "EnvConfigCredentials"}, true
		}, "this machine's AWS credentials (EnvConfigCredentials)"},
		{func(context.Context) (awsCreds, bool) { return awsCreds{}, false }, "buildkitd's own"},
	} {
		var buf bytes.Buffer
		p, err := StartProgress(t.Context(), ProgressPlain, &buf)
		if err != nil {
			t.Fatal(err)
		}
		es, _, _ := parseCache(true, []string{"type=s3,region=r,bucket=b"}, nil)
		_ = p.Task(t.Context(), "s3 cache: AWS credentials", func(ctx context.Context) error {
			addS3Credentials(ctx, tt.creds, es)
			return nil
		})
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, tt.want) || strings.Contains(out, "VALUE") {
			t.Errorf("progress:\n%s\nwant %q and no credential", out, tt.want)
		}
	}
}
