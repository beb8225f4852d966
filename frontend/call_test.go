package frontend

import (
	"errors"
	"strings"
	"testing"
)

func TestCallResult(t *testing.T) {
	tests := []struct {
		name string
		meta map[string][]byte
		want CallResult
		err  string
	}{
		{name: "lint", meta: map[string][]byte{"result.json": []byte("{}"), "result.txt": []byte("t"), "result.statuscode": []byte("1"), "version": []byte("1.0.0")},
			want: CallResult{JSON: []byte("{}"), Text: []byte("t"), Status: 1, Version: "1.0.0"}},
		{name: "no status", meta: map[string][]byte{"result.txt": []byte("t")}, want: CallResult{Text: []byte("t")}},
		{name: "empty", meta: nil, err: "holds no result"},
		{name: "bad status", meta: map[string][]byte{"result.json": []byte("{}"), "result.statuscode": []byte("one")}, err: `result.statuscode "one"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := callResult(CallLint, tt.meta)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("callResult: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.JSON) != string(tt.want.JSON) || string(got.Text) != string(tt.want.Text) || got.Status != tt.want.Status || got.Version != tt.want.Version {
				t.Errorf("callResult = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := callResult(CallLint, nil); !errors.Is(err, ErrBuildFailed) {
		t.Errorf("an empty answer: %v, want ErrBuildFailed", err)
	}
}

func TestCallUnknown(t *testing.T) {
	pl, err := NewPlan(Options{ContextDir: testContext(t), Builder: "tcp://127.0.0.1:1", LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Call(t.Context(), nil, "build"); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Call(build): %v, want ErrInvalidOption", err)
	}
}
