package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Action is what a Fault does to a request.
type Action int

// Fault actions.
const (
	// Unavailable answers 503 without forwarding.
	Unavailable Action = iota + 1
	// TooManyRequests answers 429 with Retry-After without forwarding.
	TooManyRequests
	// Drop closes the connection without answering (after forwarding
	// nothing).
	Drop
	// Corrupt forwards the request and flips one byte of the response body
	// (same length, wrong digest).
	Corrupt
	// RejectSubject answers 400 MANIFEST_INVALID to a manifest PUT whose
	// body has a subject field, as registries without OCI 1.1 support do;
	// other requests are forwarded.
	RejectSubject
	// Slow forwards the request after Delay, so that requests overlap.
	Slow
	// Hang reads the request and never answers, until the client gives
	// up (or the proxy closes): a registry that stops responding.
	Hang
	// Stall forwards the request, sends the response headers and half of
	// the body, then sends nothing more until the client gives up.
	Stall
	// Status answers Code with Body (none when empty; no
	// WWW-Authenticate on a 401) without forwarding.
	Status
	// LoseAnswer forwards the request (the registry acts on it) and closes
	// the connection without sending the registry's answer.
	LoseAnswer
	// Hold keeps the request until Release is closed, then forwards it;
	// a request whose client gives up first (or that the proxy's Close
	// ends) is never forwarded. A test holds a write in flight, does
	// what it tests meanwhile, then lets it through.
	Hold
	// ResponseHeader forwards the request and edits the headers of the
	// registry's answer with Fault.Header: a registry (or a proxy in
	// front of one) that adds, drops or changes a header on some
	// answers.
	ResponseHeader
	// ReplaceAnswer forwards the request (the registry acts on it) and
	// answers Code with Body instead of the registry's answer: a gateway
	// that timed out waiting for a registry that did the work (502, 504),
	// or one that answers otherwise than the registry would (202).
	ReplaceAnswer
)

func (a Action) String() string {
	switch a {
	case Unavailable:
		return "503"
	case TooManyRequests:
		return "429"
	case Drop:
		return "drop"
	case Corrupt:
		return "corrupt"
	case RejectSubject:
		return "reject-subject"
	case Slow:
		return "slow"
	case Hang:
		return "hang"
	case Stall:
		return "stall"
	case Status:
		return "status"
	case LoseAnswer:
		return "lose-answer"
	case Hold:
		return "hold"
	case ResponseHeader:
		return "response-header"
	case ReplaceAnswer:
		return "replace-answer"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Fault injects Action into requests that match Method (empty: any) and
// Path (a regular expression on the URL path; empty: any), Times times (0:
// every time), skipping the first Skip matches.
type Fault struct {
	Method string
	Path   string
	Action Action
	Times  int
	Skip   int
	// RetryAfter is the Retry-After value of TooManyRequests; empty means "1".
	RetryAfter string
	// Delay is how long Slow holds the request.
	Delay time.Duration
	// Code is the status Status answers.
	Code int
	// Body is the body Status answers with, sent as JSON (a registry's
	// error answer).
	Body string
	// Release lets the requests Hold keeps through once closed; nil
	// holds them until the client gives up.
	Release <-chan struct{}
	// Header gives, for a request and its body, the headers
	// ResponseHeader sets on the registry's answer (replacing the
	// registry's; an empty value removes the header). It is called for
	// every request the fault matches, concurrently, and may return nil
	// to leave an answer as it is.
	Header func(r *http.Request, body []byte) map[string]string

	re   *regexp.Regexp
	seen int
	done int
}

// Proxy is a reverse proxy in front of a registry that injects faults and
// logs requests.
type Proxy struct {
	// Host is the proxy's host:port; use it in place of the registry's.
	Host string

	srv    *httptest.Server
	target *url.URL
	mu     sync.Mutex
	faults []*Fault
	log    []string
	// inFlight and peak count the requests being served.
	inFlight, peak int
	// quit is closed by Close, releasing Hang and Stall.
	quit chan struct{}
}

type corruptKey struct{}

// NewProxy starts a proxy to the registry at host (host:port, plain HTTP).
// Close stops it.
func NewProxy(host string) *Proxy {
	p := &Proxy{target: &url.URL{Scheme: "http", Host: host}, quit: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target)
			// Keep the client's Host so that absolute Location headers
			// lead back through the proxy.
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Context().Value(corruptKey{}) == nil || resp.StatusCode != http.StatusOK {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if len(b) > 0 {
				b[len(b)/2] ^= 0x01
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return nil
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.match(r)
		p.mu.Lock()
		entry := r.Method + " " + r.URL.Path
		if f != nil {
			entry += " [" + f.Action.String() + "]"
		}
		p.log = append(p.log, entry)
		p.inFlight++
		p.peak = max(p.peak, p.inFlight)
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
		}()
		if f == nil {
			rp.ServeHTTP(w, r)
			return
		}
		switch f.Action {
		case Unavailable:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected 503"}]}`)
		case TooManyRequests:
			io.Copy(io.Discard, r.Body)
			ra := f.RetryAfter
			if ra == "" {
				ra = "1"
			}
			w.Header().Set("Retry-After", ra)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected 429"}]}`)
		case LoseAnswer:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			fallthrough
		case Drop:
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic(http.ErrAbortHandler)
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
		case Corrupt:
			rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), corruptKey{}, true)))
		case Slow:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
		case ReplaceAnswer:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			if f.Body != "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(f.Code)
			io.WriteString(w, f.Body)
		case Status:
			io.Copy(io.Discard, r.Body)
			if f.Body != "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(f.Code)
			io.WriteString(w, f.Body)
		case Hold:
			// Read first: the server notices a client that gave up only
			// once the body is read.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-f.Release:
				// Both may be ready: a client that gave up is never
				// forwarded.
				if r.Context().Err() == nil {
					rp.ServeHTTP(w, r)
				}
			case <-r.Context().Done():
			case <-p.quit:
			}
		case ResponseHeader:
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			var edit map[string]string
			if f.Header != nil {
				edit = f.Header(r, body)
			}
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			maps.Copy(w.Header(), rec.Header())
			for k, v := range edit {
				if v == "" {
					w.Header().Del(k)
				} else {
					w.Header().Set(k, v)
				}
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		case Hang:
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-p.quit:
			}
		case Stall:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			maps.Copy(w.Header(), rec.Header())
			w.WriteHeader(rec.Code)
			body := rec.Body.Bytes()
			w.Write(body[:len(body)/2])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			select {
			case <-r.Context().Done():
			case <-p.quit:
			}
		case RejectSubject:
			body, _ := io.ReadAll(r.Body)
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && bytes.Contains(body, []byte(`"subject"`)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unknown field subject"}]}`)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			rp.ServeHTTP(w, r)
		}
	}))
	p.Host = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

// StartProxy starts a proxy for the test and stops it when the test ends.
func StartProxy(t testing.TB, host string) *Proxy {
	p := NewProxy(host)
	t.Cleanup(p.Close)
	return p
}

// Inject adds a fault. Faults are tried in the order added; the first that
// matches and has injections left applies.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.Path != "" {
		f.re = regexp.MustCompile(f.Path)
	}
	p.faults = append(p.faults, &f)
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.faults = nil
	p.mu.Unlock()
}

// Injected returns how many faults were injected.
func (p *Proxy) Injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.done
	}
	return n
}

// PeakInFlight returns the most requests the proxy served at once.
func (p *Proxy) PeakInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// Log returns "METHOD PATH [fault]" for every request seen.
func (p *Proxy) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *Proxy) match(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.re != nil && !f.re.MatchString(r.URL.Path) {
			continue
		}
		if f.Times > 0 && f.done >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		f.done++
		return f
	}
	return nil
}

// Close stops the proxy.
func (p *Proxy) Close() {
	close(p.quit)
	p.srv.Close()
}
