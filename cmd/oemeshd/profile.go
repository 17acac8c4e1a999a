package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"sync"

	"github.com/oemesh/oemesh/internal/control"
)

// Profiles over the control socket, for the daemon's CPU and its lock
// contention under load:
//
//	GET /v1/debug/profile/cpu?seconds=N    CPU profile over the next N seconds
//	GET /v1/debug/profile/mutex?seconds=N  contended mutexes over the next N seconds
//	GET /v1/debug/profile/block?seconds=N  blocking (channels, locks, select)
//
// The mutex and block profiles cost the runtime a little on every
// contended lock, so their sampling is switched on only for the window
// asked for and put back to what it was after (off, in a daemon that no
// one profiles). The reply is the delta over that window, not everything
// since the daemon started. One profile of each kind runs at a time; a
// second request gets 409.
//
// Like everything on the control socket they are root only: the socket
// is 0600 in a 0700 directory (internal/control).

// Bounds of ?seconds=: a profile shorter than a second samples too little
// (100 samples a second), and the request holds a connection open.
const (
	profileDefaultSeconds = 10
	profileMaxSeconds     = 300
	// mutexProfileFraction samples one contention event in this many.
	mutexProfileFraction = 5
	// blockProfileRate samples blocking events at one per this many
	// nanoseconds blocked.
	blockProfileRate = 10_000
)

// profiler serialises the profiles of each kind.
type profiler struct {
	cpu, mutex, block sync.Mutex
}

func (d *daemon) registerProfileHandlers() {
	p := &profiler{}
	d.ctl.HandleRaw("GET /v1/debug/profile/cpu", func(w http.ResponseWriter, r *http.Request) {
		p.serve(d.ctl, w, r, &p.cpu, "cpu", func(w http.ResponseWriter, r *http.Request) {
			pprof.Profile(w, r)
		})
	})
	d.ctl.HandleRaw("GET /v1/debug/profile/mutex", func(w http.ResponseWriter, r *http.Request) {
		p.serve(d.ctl, w, r, &p.mutex, "mutex", func(w http.ResponseWriter, r *http.Request) {
			prev := runtime.SetMutexProfileFraction(mutexProfileFraction)
			defer runtime.SetMutexProfileFraction(prev)
			pprof.Handler("mutex").ServeHTTP(w, r)
		})
	})
	d.ctl.HandleRaw("GET /v1/debug/profile/block", func(w http.ResponseWriter, r *http.Request) {
		p.serve(d.ctl, w, r, &p.block, "block", func(w http.ResponseWriter, r *http.Request) {
			// The runtime has no getter for the block rate; nothing else
			// in the daemon sets it, so off is what it was.
			runtime.SetBlockProfileRate(blockProfileRate)
			defer runtime.SetBlockProfileRate(0)
			pprof.Handler("block").ServeHTTP(w, r)
		})
	})
}

// serve checks ?seconds=, takes the kind's lock (409 when that profile is
// already running) and hands the request, its seconds normalised, to
// run. net/http/pprof takes the profile: for mutex and block it reads
// the profile before and after the window and answers with the delta.
func (p *profiler) serve(ctl *control.Server, w http.ResponseWriter, r *http.Request, mu *sync.Mutex, kind string, run http.HandlerFunc) {
	secs, err := profileSeconds(r)
	if err != nil {
		ctl.WriteError(w, r, err)
		return
	}
	if !mu.TryLock() {
		ctl.WriteError(w, r, &control.StatusError{Code: http.StatusConflict,
			Err: fmt.Errorf("a %s profile is already being taken: wait for it to end", kind)})
		return
	}
	defer mu.Unlock()
	q := r.URL.Query()
	q.Set("seconds", strconv.Itoa(secs))
	q.Del("debug") // always the binary pprof format
	r.URL.RawQuery = q.Encode()
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%s.pprof", kind))
	run(w, r)
}

// profileSeconds reads ?seconds= (default 10, at most 300).
func profileSeconds(r *http.Request) (int, error) {
	v := r.URL.Query().Get("seconds")
	if v == "" {
		return profileDefaultSeconds, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > profileMaxSeconds {
		return 0, control.BadRequest("seconds=%q: want a whole number of seconds from 1 to %d", v, profileMaxSeconds)
	}
	return n, nil
}
