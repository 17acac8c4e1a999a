package main

import (
	"net/http/httptest"
	"testing"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/kernel/fake"
)

// trimCounting is a data plane that counts TrimIdle calls.
type trimCounting struct {
	*fake.Dataplane
	trims int
}

func (t *trimCounting) TrimIdle() int { t.trims++; return 0 }

// TestCollectTrimsDataplane: GET /v1/memory?gc=1 gives the data plane's
// spare buffers back before it collects, and only then.
func TestCollectTrimsDataplane(t *testing.T) {
	dp := &trimCounting{Dataplane: fake.New(clocktest.New().Now)}
	d := &daemon{dp: dp}
	for _, c := range []struct {
		query string
		want  int
	}{{"", 0}, {"?gc=0", 0}, {"?gc=1", 1}, {"?gc=true", 2}} {
		gc, err := d.collectIfAsked(httptest.NewRequest("GET", "/v1/memory"+c.query, nil))
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if dp.trims != c.want || gc != (c.want > 0 && c.query != "" && c.query != "?gc=0") {
			t.Errorf("%q: %d trims (collected %v), want %d", c.query, dp.trims, gc, c.want)
		}
	}
	if _, err := d.collectIfAsked(httptest.NewRequest("GET", "/v1/memory?gc=2", nil)); err == nil {
		t.Error("gc=2 accepted")
	}
}
