package oci

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Selector picks platform manifests among the images of an index. At most
// one of its fields may be set; the zero Selector picks the only platform
// image and fails when there are several.
type Selector struct {
	// Platform is os[(os.version)]/arch[/variant], or an architecture or
	// OS alone, as for --platform (ParsePlatform). An omitted variant matches the default one for the architecture
	// ("linux/arm" is linux/arm/v7, "linux/arm64" is linux/arm64 with or
	// without v8); an omitted os.version matches any.
	Platform string
	// Digest selects the manifest with this digest.
	Digest digest.Digest
	// All selects every platform image.
	All bool
}

// Select returns the platform images (never attestation manifests) that sel
// picks, each manifest digest once: a manifest an index lists under
// several platforms is one image, returned with the first of its
// platforms that sel matches (so All never yields one manifest twice, and
// a Platform matching two entries of one manifest is not ambiguous). No
// match is ErrNoMatch and several manifests matching a Platform or the
// zero Selector is ErrAmbiguous; both errors list the platforms present.
func Select(images []Image, sel Selector) ([]Image, error) {
	set := 0
	for _, b := range []bool{sel.Platform != "", sel.Digest != "", sel.All} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, fmt.Errorf("select by one of platform, digest or all platforms, not several")
	}
	var plat []Image
	for _, i := range images {
		if !i.Attestation {
			plat = append(plat, i)
		}
	}
	switch {
	case sel.All:
		if len(plat) == 0 {
			return nil, &selectError{fmt.Sprintf("no platform images (%s)", present(images)), ErrNoMatch}
		}
		return uniqueDigests(plat), nil
	case sel.Digest != "":
		if err := sel.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("digest %q: %w", sel.Digest, err)
		}
		for _, i := range images {
			if i.Descriptor.Digest != sel.Digest {
				continue
			}
			if i.Attestation {
				return nil, &selectError{fmt.Sprintf("manifest %s is a BuildKit attestation manifest, not a platform image", sel.Digest), ErrNoMatch}
			}
			return []Image{i}, nil
		}
		return nil, &selectError{fmt.Sprintf("no manifest %s in the image (it has: %s)", sel.Digest, present(images)), ErrNoMatch}
	case sel.Platform != "":
		want, err := ParsePlatform(sel.Platform)
		if err != nil {
			return nil, err
		}
		named := sel.Platform
		if !strings.Contains(named, "/") {
			// "arm64": say which OS it was taken for.
			named += " (" + FormatPlatform(want) + ")"
		}
		var out []Image
		for _, i := range plat {
			if MatchPlatform(want, i.Platform()) {
				out = append(out, i)
			}
		}
		if len(out) == 0 && strings.Count(sel.Platform, "/") < 2 {
			// No image has the default variant: an omitted variant
			// matches any.
			for _, i := range plat {
				if matchLoose(want, i.Platform()) {
					out = append(out, i)
				}
			}
		}
		out = uniqueDigests(out)
		switch len(out) {
		case 0:
			return nil, &selectError{fmt.Sprintf("platform %s not found in the image (it has: %s)", named, present(plat)), ErrNoMatch}
		case 1:
			return out, nil
		default:
			return nil, fmt.Errorf("platform %s matches %d manifests (%s); select one by digest or a fuller platform: %w", named, len(out), present(out), ErrAmbiguous)
		}
	default:
		plat = uniqueDigests(plat)
		switch len(plat) {
		case 0:
			return nil, &selectError{fmt.Sprintf("no platform images (%s)", present(images)), ErrNoMatch}
		case 1:
			return plat, nil
		default:
			return nil, fmt.Errorf("%d platform images (%s), none selected: %w", len(plat), present(plat), ErrAmbiguous)
		}
	}
}

// uniqueDigests returns images without the entries whose manifest digest
// an earlier entry has.
func uniqueDigests(images []Image) []Image {
	seen := make(map[digest.Digest]bool, len(images))
	out := images[:0:0]
	for _, i := range images {
		if !seen[i.Descriptor.Digest] {
			seen[i.Descriptor.Digest] = true
			out = append(out, i)
		}
	}
	return out
}

// selectError is an error whose message, written for the user, says
// what did not match; the sentinel it wraps (ErrNoMatch) is for errors.Is
// and is not repeated in the message.
type selectError struct {
	msg string
	err error
}

func (e *selectError) Error() string { return e.msg }
func (e *selectError) Unwrap() error { return e.err }

// platformForm is the form of one platform, as messages give it.
const platformForm = "os[(os.version)]/arch[/variant], or an architecture or OS alone"

// oneComponent is a platform of one component that could name an OS or
// an architecture: containerd's OS pattern without os.version.
var oneComponent = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParsePlatform parses and normalizes a platform as containerd's
// platforms.Parse does, so as buildctl and docker buildx take --platform:
// os[(os.version)]/arch[/variant], or one component, an architecture
// ("arm64", also an alias such as "aarch64" or "armhf") meaning that
// architecture on this machine's OS (linux/arm64 on Linux) or an OS
// ("linux") meaning that OS on this machine's architecture. An error
// names s once and says what is wrong in words, not containerd's
// pattern; it wraps containerd's error (errdefs.ErrInvalidArgument).
func ParsePlatform(s string) (ocispec.Platform, error) {
	p, err := platforms.Parse(s)
	if err == nil {
		return p, nil
	}
	var why string
	switch {
	case strings.Contains(s, ","):
		why = "one platform, not a list: want " + platformForm
	case oneComponent.MatchString(s):
		// "bogus": one component, neither an OS nor an architecture
		// containerd knows.
		why = "no known OS or architecture: want " + platformForm
	case strings.Count(s, "/") > 2:
		why = "too many parts: want " + platformForm
	default:
		why = "want " + platformForm + ", each part letters, digits, '_', '.' or '-'"
	}
	return ocispec.Platform{}, &selectError{fmt.Sprintf("platform %q: %s", s, why), err}
}

// MatchPlatform reports whether have is the platform want names: OS,
// architecture and variant equal after normalization (so "linux/arm" is
// linux/arm/v7 and "linux/arm64" is linux/arm64/v8), and, when want names
// an os.version, the same os.version. As containerd matches Windows images,
// an os.version of three components (major.minor.build, "10.0.20348")
// also matches any revision of that build ("10.0.20348.2340").
func MatchPlatform(want, have ocispec.Platform) bool {
	w, h := platforms.Normalize(want), platforms.Normalize(have)
	return matchLoose(want, have) && w.Variant == h.Variant
}

// matchLoose is MatchPlatform ignoring the variant.
func matchLoose(want, have ocispec.Platform) bool {
	w, h := platforms.Normalize(want), platforms.Normalize(have)
	if w.OS != h.OS || w.Architecture != h.Architecture {
		return false
	}
	return matchOSVersion(want.OSVersion, have.OSVersion)
}

// matchOSVersion reports whether an image's os.version have is the one a
// selector names (want): any when want is empty, the build's revisions
// when want is major.minor.build, else exactly want.
func matchOSVersion(want, have string) bool {
	switch {
	case want == "" || want == have:
		return true
	case strings.Count(want, ".") == 2:
		return strings.HasPrefix(have, want+".")
	default:
		return false
	}
}

// present lists the platforms of images, for error messages.
func present(images []Image) string {
	if len(images) == 0 {
		return "none"
	}
	s := make([]string, 0, len(images))
	for _, i := range images {
		if i.Attestation {
			s = append(s, i.String()) // names its digest
			continue
		}
		s = append(s, i.String()+" "+i.Descriptor.Digest.String())
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
