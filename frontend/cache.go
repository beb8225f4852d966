package frontend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	bkbuild "github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/tonistiigi/go-csvvalue"

	"github.com/affix-oci/affix/internal/fsutil"
)

// Cache types BuildKit imports (--cache-from) and exports (--cache-to).
// inline is export only: the cache metadata goes into the image config.
var (
	cacheImportTypes = []string{"registry", "local", "gha", "s3", "azblob"}
	cacheExportTypes = []string{"registry", "local", "inline", "gha", "s3", "azblob"}
)

// attrRegistryInsecure is the registry cache attribute that makes
// buildkitd reach the cache's registry over plain HTTP.
const attrRegistryInsecure = "registry.insecure"

// parseCache parses --cache-from (export false) or --cache-to (export
// true) values as buildx takes them: type=TYPE[,KEY=VALUE...] (buildctl's
// parser: mode defaults to min on export, gha takes its url and token from
// the GitHub Actions environment), or a bare registry reference, short for
// type=registry,ref=REF. A registry cache on a host insecure reports gets
// registry.insecure=true unless the value sets it. Unknown types, a
// registry cache without a valid ref, a local cache without src (import)
// or dest (export) and an export mode other than min or max are
// ErrInvalidOption errors naming the value. A gha cache where no GitHub
// Actions cache service is reachable (ghaInactive) is left out, as buildx
// leaves it out, so that one build command serves CI and a laptop; the
// warnings say so.
func parseCache(export bool, in []string, insecure func(host string) bool) ([]client.CacheOptionsEntry, []string, error) {
	flag, types, parse := "cache-from", cacheImportTypes, bkbuild.ParseImportCache
	if export {
		flag, types, parse = "cache-to", cacheExportTypes, bkbuild.ParseExportCache
	}
	out := make([]client.CacheOptionsEntry, 0, len(in))
	var warnings []string
	for _, raw := range in {
		s := raw
		v := redactCacheSecrets(raw) // what messages quote
		if strings.TrimSpace(s) == "" {
			return nil, nil, optErr("%s %q: empty", flag, v)
		}
		if !strings.Contains(s, "type=") {
			s = "type=registry,ref=" + s
		}
		if ghaInactive(s, os.LookupEnv) {
			warnings = append(warnings, fmt.Sprintf("--%s %q: skipped, as buildx skips it: no GitHub Actions cache service here (give token= and url=, or run where $ACTIONS_RUNTIME_TOKEN and $ACTIONS_CACHE_URL or $ACTIONS_RESULTS_URL are set)", flag, v))
			continue
		}
		es, err := parse([]string{s})
		if err != nil {
			return nil, nil, optWrap(err, "%s %q", flag, v)
		}
		e := es[0]
		if !slices.Contains(types, e.Type) {
			return nil, nil, optErr("%s %q: unknown cache type %q (want %s)", flag, v, e.Type, strings.Join(types, ", "))
		}
		switch e.Type {
		case "registry":
			ref, err := reference.ParseNormalizedNamed(e.Attrs["ref"])
			if err != nil {
				return nil, nil, optWrap(err, "%s %q: registry cache ref %q", flag, v, e.Attrs["ref"])
			}
			if _, set := e.Attrs[attrRegistryInsecure]; !set && insecure != nil && insecure(reference.Domain(ref)) {
				e.Attrs[attrRegistryInsecure] = "true"
			}
		case "s3":
			_, hasID := e.Attrs[attrS3AccessKeyID]
			_, hasSecret := e.Attrs[attrS3SecretAccessKey]
			if hasID != hasSecret {
				return nil, nil, optErr("%s %q: access_key_id and secret_access_key go together (give both, or neither for the client's AWS credentials)", flag, v)
			}
		case "local":
			key := "src"
			if export {
				key = "dest"
			}
			if e.Attrs[key] == "" {
				return nil, nil, optErr("%s %q: a local cache needs %s=DIR", flag, v, key)
			}
			// The BuildKit client creates dest (MkdirAll) only after the
			// build, and skips an src it cannot read with a log line: a
			// file in the way is found here instead. A missing src is
			// fine, as with buildx (a first CI run has no cache yet).
			if err := checkCacheDir(e.Attrs[key], export); err != nil {
				return nil, nil, optWrap(err, "%s %q: %s", flag, v, key)
			}
		}
		if m, ok := e.Attrs["mode"]; export && ok && m != "min" && m != "max" {
			return nil, nil, optErr("%s %q: mode %q: want min or max", flag, v, m)
		}
		out = append(out, e)
	}
	return out, warnings, nil
}

// ghaInactive reports whether s, a cache value, is a gha cache that has
// no cache service to talk to: no token (token=, else
// $ACTIONS_RUNTIME_TOKEN) or no URL (url= or url_v2=, else
// $ACTIONS_CACHE_URL or $ACTIONS_RESULTS_URL), which is buildx's test
// (CacheOptionsEntry.IsActive). Outside GitHub Actions buildx skips such
// an entry rather than failing; BuildKit's parser fails. A value that
// does not parse is not inactive: the parser then says what is wrong.
func ghaInactive(s string, lookup func(string) (string, bool)) bool {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return false
	}
	attrs := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return false
		}
		attrs[strings.ToLower(k)] = v
	}
	if attrs["type"] != "gha" {
		return false
	}
	env := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := lookup(k); ok && v != "" {
				return v
			}
		}
		return ""
	}
	token := cmp.Or(attrs["token"], env("ACTIONS_RUNTIME_TOKEN"))
	url := cmp.Or(attrs["url"], attrs["url_v2"], env("ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL"))
	return token == "" || url == ""
}

// checkCacheDir checks that dir is a directory or, when it is missing,
// that its nearest existing parent is one: a dest (made true) is then
// made after the build, a src is skipped as empty. Errors name the file
// in the way.
func checkCacheDir(dir string, made bool) error {
	p, fi, err := fsutil.NearestExisting(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return nil
	case p == filepath.Clean(dir):
		return fmt.Errorf("%s is not a directory", dir)
	}
	if made {
		return fmt.Errorf("%s is not a directory, so %s cannot be made", p, dir)
	}
	return fmt.Errorf("%s is not a directory, so %s cannot be one", p, dir)
}

// cloneCache copies entries for one solve: the BuildKit client writes the
// digest of a local cache import into its attributes, and nodes solve
// concurrently.
func cloneCache(in []client.CacheOptionsEntry) []client.CacheOptionsEntry {
	if in == nil {
		return nil
	}
	out := make([]client.CacheOptionsEntry, len(in))
	for i, e := range in {
		out[i] = client.CacheOptionsEntry{Type: e.Type, Attrs: maps.Clone(e.Attrs)}
	}
	return out
}

// secretCacheAttr matches a cache attribute that carries a secret (s3's
// and azblob's secret_access_key, s3's session_token, gha's token and
// ghtoken) and its value: a quoted field to its closing quote (its value
// may hold commas), else up to the next comma.
var secretCacheAttr = regexp.MustCompile(`(^|,)(?:"(secret_access_key|session_token|token|ghtoken)=(?:[^"]|"")*"?|(secret_access_key|session_token|token|ghtoken)=[^,]*)`)

// redactCacheSecrets is a --cache-from or --cache-to value with the values
// of its secret attributes replaced by "***", for messages: a CI log must
// not show a key typed into the flag.
func redactCacheSecrets(v string) string {
	return secretCacheAttr.ReplaceAllStringFunc(v, func(m string) string {
		sep, field := "", m
		if strings.HasPrefix(m, ",") {
			sep, field = ",", m[1:]
		}
		key, _, _ := strings.Cut(strings.TrimPrefix(field, `"`), "=")
		if strings.HasPrefix(field, `"`) {
			return sep + `"` + key + `=***"`
		}
		return sep + key + "=***"
	})
}

// awsLookupTimeout bounds the look-up of the client's AWS credentials: a
// credential process or container endpoint that hangs must not hang the
// build.
const awsLookupTimeout = 15 * time.Second

// S3 cache attributes that carry credentials.
const (
	attrS3AccessKeyID     = "access_key_id"
	attrS3SecretAccessKey = "secret_access_key"
	attrS3SessionToken    = "session_token"
)

// awsCreds are AWS credentials and where they were found.
type awsCreds struct {
	id, secret, token string
	// source names the provider that found them (the SDK's
	// Credentials.Source: EnvConfigCredentials, SharedConfigCredentials,
	// ...), never their values.
	source string
}

// awsCredentials returns the AWS credentials of this environment as the
// AWS SDK's default chain finds them (AWS_ACCESS_KEY_ID and friends,
// ~/.aws/credentials and config with AWS_PROFILE, SSO, web identity, the
// instance's role), or ok false when there are none.
func awsCredentials(ctx context.Context) (c awsCreds, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, awsLookupTimeout)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return awsCreds{}, false
	}
	got, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return awsCreds{}, false
	}
	return awsCreds{id: got.AccessKeyID, secret: got.SecretAccessKey, token: got.SessionToken, source: got.Source}, true
}

// needsS3Credentials reports whether an s3 cache entry of entries names
// no access key pair (parseCache refuses half of one).
func needsS3Credentials(entries ...[]client.CacheOptionsEntry) bool {
	for _, es := range entries {
		if slices.ContainsFunc(es, lacksS3Key) {
			return true
		}
	}
	return false
}

// lacksS3Key reports whether e is an s3 cache entry without an access key.
func lacksS3Key(e client.CacheOptionsEntry) bool {
	_, has := e.Attrs[attrS3AccessKeyID]
	return e.Type == "s3" && !has
}

// addS3Credentials gives every s3 cache entry that names no access key
// pair the client's AWS credentials, from creds, as buildx does: the
// builder is often remote, or a container without the CI job's
// credentials, and BuildKit's s3 cache takes them as attributes of the
// solve request. A session token the entry sets is kept. Credentials are
// looked up once, and only when an entry needs them; none found leaves
// the entries to the builder's own. It logs (Logf) where they came from,
// never what they are.
func addS3Credentials(ctx context.Context, creds func(context.Context) (awsCreds, bool), entries ...[]client.CacheOptionsEntry) {
	if !needsS3Credentials(entries...) {
		return
	}
	c, ok := creds(ctx)
	if !ok {
		Logf(ctx, "no AWS credentials on this machine: the s3 cache uses buildkitd's own")
		return
	}
	Logf(ctx, "the s3 cache uses this machine's AWS credentials (%s)", cmp.Or(c.source, "found by the AWS SDK"))
	for _, es := range entries {
		for _, e := range es {
			if !lacksS3Key(e) {
				continue
			}
			e.Attrs[attrS3AccessKeyID] = c.id
			e.Attrs[attrS3SecretAccessKey] = c.secret
			if _, set := e.Attrs[attrS3SessionToken]; !set && c.token != "" {
				e.Attrs[attrS3SessionToken] = c.token
			}
		}
	}
}
