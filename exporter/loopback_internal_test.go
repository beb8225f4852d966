package exporter

import "testing"

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
