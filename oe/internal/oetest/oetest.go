// Package oetest holds the test helpers that oe, oe/conn and oe/dispatch
// share: a policy from files, a fresh key, a shunt lookup on the fake data
// plane, and waiting for a condition. Only their tests import it.
package oetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/policygroups"
)

// MustPolicy loads a policy from group files (name → contents) written to
// a temporary directory.
func MustPolicy(t testing.TB, files map[string]string) *policygroups.Policy {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := policygroups.Load(context.Background(), dir, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NewKey is a fresh Ed25519 key.
func NewKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WaitFor polls cond until it holds, failing the test after 5 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ShuntFor is the shunt the fake data plane holds for destination dst.
func ShuntFor(dp *fake.Dataplane, dst string) (kernel.Shunt, bool) {
	ss, _ := dp.Shunts(context.Background())
	for _, s := range ss {
		if s.Flow.Dst.String() == dst {
			return s, true
		}
	}
	return kernel.Shunt{}, false
}
