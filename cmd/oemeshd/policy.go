package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/oemesh/oemesh/policygroups"
)

// loadPolicy reads the policy groups, resolving host names with the
// system resolver. A missing directory is reported as fs.ErrNotExist.
func loadPolicy(ctx context.Context, dir string) (*policygroups.Policy, []policygroups.Warning, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("policy directory %s: %w", dir, err)
	}
	return policygroups.Load(ctx, dir, policygroups.LoadOptions{Resolver: net.DefaultResolver})
}

// policyState is the policy in force, swapped whole on reload.
type policyState struct {
	mu       sync.RWMutex
	dir      string
	policy   *policygroups.Policy
	loaded   time.Time
	warnings []policygroups.Warning
}

func (s *policyState) get() (*policygroups.Policy, time.Time, []policygroups.Warning) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policy, s.loaded, s.warnings
}

func (s *policyState) set(p *policygroups.Policy, now time.Time, w []policygroups.Warning) policygroups.Diff {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := policygroups.Compare(s.policy, p)
	s.policy, s.loaded, s.warnings = p, now, w
	return d
}
