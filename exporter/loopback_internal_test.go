package exporter

import (
	"context"
	"errors"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:5000": true, "127.0.0.1": true, "127.0.0.1:5000": true,
		"127.255.0.9:80": true, "[::1]:5000": true, "::1": true, "[::1]": true,
		"localhost.example.com": false, "10.0.0.1:5000": false, "registry.example.com": false,
		"[::2]:5000": false, "": false, "0.0.0.0:5000": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSameRegistry(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"reg.example", "reg.example", true},
		{"Reg.Example:5000", "reg.example:5000", true},
		{"localhost:5000", "127.0.0.1:5000", true},
		{"LOCALHOST:5000", "[::1]:5000", true},
		{"localhost", "127.0.0.1", true},
		{"localhost:5000", "127.0.0.1:5001", false},
		{"localhost:5000", "localhost", false},
		{"localhost:5000", "reg.example:5000", false},
		{"reg.example:5000", "reg.example", false},
		{"10.0.0.1:5000", "127.0.0.1:5000", false},
		{"localhost:5000", "[::1]:5000", true},
		{"127.0.0.1:5000", "127.0.0.2:5000", false},
		{"127.0.0.1:5000", "[::1]:5000", false},
		{"localhost:5000", "127.0.0.2:5000", false},
	} {
		if got := SameRegistry(tt.a, tt.b); got != tt.want {
			t.Errorf("SameRegistry(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := SameRegistry(tt.b, tt.a); got != tt.want {
			t.Errorf("SameRegistry(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]error{
		"127.0.0.1:5000": nil, "[::1]:5000": nil, "127.3.2.1:80": nil,
		"10.1.2.3:5000": errNotLoopback, "[2001:db8::1]:5000": errNotLoopback, "0.0.0.0:5000": errNotLoopback,
	} {
		if err := loopbackOnly("tcp", addr, nil); !errors.Is(err, want) {
			t.Errorf("loopbackOnly(%q) = %v, want %v", addr, err, want)
		}
	}
}

func TestResolvesToLoopback(t *testing.T) {
	ctx := context.Background()
	for name, want := range map[string]bool{"127.0.0.1": true, "::1": true, "10.0.0.1": false, "affix.invalid": false} {
		if got := resolvesToLoopback(ctx, name); got != want {
			t.Errorf("resolvesToLoopback(%q) = %v, want %v", name, got, want)
		}
	}
}
