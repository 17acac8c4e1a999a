package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one peer process we started. Every element of its command line exec()s the
// next (ip netns exec, unshare, sh -c 'exec ...'), so cmd.Process.Pid is the daemon itself.
type daemon struct {
	name   string // for messages: "charon in ns X"
	cmd    *exec.Cmd
	out    *os.File
	done   chan struct{}
	mu     sync.Mutex
	err    error // Wait result, valid after done is closed
	logf   string
	stopMu sync.Mutex
}

// stopGrace is how long a peer gets to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

func startDaemon(name string, argv []string, env []string, outPath, logPath string) (*daemon, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", name, outPath, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group: a signal meant for the test never reaches the peer by accident,
	// and the peer's group signals (charon's load-tester does kill(0,...)) never reach us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, strings.Join(argv, " "), err)
	}
	d := &daemon{name: name, cmd: cmd, out: out, done: make(chan struct{}), logf: logPath}
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		out.Close()
		close(d.done)
	}()
	return d, nil
}

// exited reports whether the process has ended, and how.
func (d *daemon) exited() (bool, error) {
	select {
	case <-d.done:
		d.mu.Lock()
		defer d.mu.Unlock()
		return true, d.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the daemon's pid (never to a group or by name), waits up to grace,
// then SIGKILLs it. It is safe to call more than once.
func (d *daemon) stop(grace time.Duration) error {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if done, _ := d.exited(); done {
		return nil
	}
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if took := time.Since(start); took > 2*time.Second {
			return fmt.Errorf("%s (pid %d) took %v to exit after SIGTERM", d.name, d.cmd.Process.Pid, took.Round(time.Millisecond))
		}
		return nil
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed", d.name, d.cmd.Process.Pid, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", d.name, d.cmd.Process.Pid)
	}
}

// tailFile returns the last n lines of a file (for failure reports).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 20 ms until it returns true, an error, or ctx ends. A daemon that
// exits meanwhile ends the wait with its output.
func waitFor(ctx context.Context, d *daemon, what string, cond func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if d != nil {
			if done, werr := d.exited(); done {
				return fmt.Errorf("waiting for %s: %s exited (%v); output:\n%s\nlog:\n%s",
					what, d.name, werr, tailFile(d.out.Name(), 20), tailFile(d.logf, 30))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// LogWatcher finds lines in a daemon's log file. Its offset lets a test look only at what
// was logged after a point (Mark), so one instance can serve several steps.
type LogWatcher struct {
	path string
	d    *daemon
}

// Mark returns the current size of the log, to pass to WaitFrom/LinesFrom.
func (w LogWatcher) Mark() int64 {
	st, err := os.Stat(w.path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Path is the log file.
func (w LogWatcher) Path() string { return w.path }

// String returns the whole log.
func (w LogWatcher) String() string {
	b, _ := os.ReadFile(w.path)
	return string(b)
}

// LinesFrom returns the log lines after offset from that match re.
func (w LogWatcher) LinesFrom(from int64, re *regexp.Regexp) []string {
	b, err := os.ReadFile(w.path)
	if err != nil || int64(len(b)) < from {
		return nil
	}
	var out []string
	for _, l := range bytes.Split(b[from:], []byte("\n")) {
		if re.Match(l) {
			out = append(out, string(l))
		}
	}
	return out
}

// WaitFrom waits until a line after offset matches re and returns the first such line.
func (w LogWatcher) WaitFrom(ctx context.Context, from int64, re *regexp.Regexp) (string, error) {
	var line string
	err := waitFor(ctx, w.d, fmt.Sprintf("log line /%s/ in %s", re, w.path), func() (bool, error) {
		if m := w.LinesFrom(from, re); len(m) > 0 {
			line = m[0]
			return true, nil
		}
		return false, nil
	})
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w\nlast log lines:\n%s", err, tailFile(w.path, 25))
	}
	return line, err
}

// pollList polls list until one of its elements satisfies match (present) or
// none does (!present). It returns the element found and the last list seen,
// for the caller's error message; a list error caused by ctx ending is not
// an error of its own (waitFor reports the deadline).
func pollList[T any](ctx context.Context, d *daemon, what string, list func(context.Context) ([]T, error), match func(T) bool, present bool) (found T, last []T, err error) {
	err = waitFor(ctx, d, what, func() (bool, error) {
		items, err := list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, err
		}
		last = items
		for _, it := range items {
			if match(it) {
				found = it
				return present, nil
			}
		}
		return !present, nil
	})
	return found, last, err
}
