package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/lab"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "oemesh-lab",
		Short:         "Build the OE mesh in network namespaces and run the scenarios through oemeshd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newCleanCmd())
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "oemesh-lab:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// Exit statuses of `oemesh-lab run`.
const (
	exitOK       = 0
	exitMismatch = 1 // a flow's outcome was not the expected one
	exitSetup    = 2 // the lab could not be built or run (flags, root, binaries)
	exitSignal   = 130
)

type runFlags struct {
	keep    bool
	json    bool
	bin     string
	prefix  string
	workDir string
	// keyExchanges is what every encrypted flow's IKE SA must show.
	keyExchanges string
	// panicAfterBuild panics once the mesh is up: the tests use it to show
	// that a panic still removes the lab.
	panicAfterBuild bool
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Build the mesh, run every scenario and print the table of flows",
		Long: `Build the mesh (DNS server, hosts a b c d g on 198.18.0.0/24 and
2001:db8:1::/64, e behind gateway g), start oemeshd on a, b, c and g, run the
scenarios and print one row per flow. Exit status: 0 every flow had its
expected outcome; 1 some did not (their rows say so); 2 the lab could not
run; 130 interrupted. Namespaces and daemons are removed on exit, on Ctrl-C
and after a panic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd.Context(), &f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.keep, "keep", false, "after the scenarios, keep the mesh up (and print how to reach it) until Ctrl-C")
	fl.BoolVar(&f.json, "json", false, "print the results as JSON instead of a table")
	fl.StringVar(&f.bin, "bin", "", "directory holding oemeshd and oemesh (default: beside this executable)")
	fl.StringVar(&f.prefix, "prefix", "", "namespace name prefix (default: oelab<pid>)")
	fl.StringVar(&f.workDir, "workdir", "", "directory for the hosts' configuration and logs (default: a new temporary directory, removed on exit)")
	fl.StringVar(&f.keyExchanges, "key-exchanges", lab.DefaultKeyExchanges, "the key exchanges every encrypted flow's IKE SA must show in `oemesh traffic` (oemeshd's default)")
	fl.BoolVar(&f.panicAfterBuild, "panic-after-build", false, "panic once the mesh is up (tests the clean-up)")
	fl.MarkHidden("panic-after-build")
	return cmd
}

// findBinaries locates oemeshd and oemesh: in --bin, else beside our own
// executable.
func findBinaries(bin string) (string, error) {
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("finding our own executable (give --bin): %w", err)
		}
		bin = filepath.Dir(self)
	}
	for _, name := range []string{"oemeshd", "oemesh"} {
		p := filepath.Join(bin, name)
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s not found in %s (build it with `make build`, or give --bin DIR): %w", name, bin, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not an executable file", p)
		}
	}
	return filepath.Abs(filepath.Join(bin, "oemeshd"))
}

func runLab(parent context.Context, f *runFlags, stdout, stderr io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return &exitError{exitSetup, errors.New("needs root: it creates network namespaces, veth links and TUN devices; run it as root (e.g. sudo bin/oemesh-lab run, or make demo as root)")}
	}
	oemeshd, err := findBinaries(f.bin)
	if err != nil {
		return &exitError{exitSetup, err}
	}
	if f.prefix == "" {
		f.prefix = fmt.Sprintf("oelab%d", os.Getpid())
	}
	workDir, removeWork := f.workDir, false
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "oemesh-lab-"); err != nil {
			return &exitError{exitSetup, err}
		}
		removeWork = true
	}

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	l := &labRun{prefix: f.prefix, workDir: workDir, oemeshd: oemeshd, log: stderr, keyExchanges: f.keyExchanges}

	// One cleanup, whoever gets there first: the normal return, a panic,
	// or a second Ctrl-C while a step is stuck.
	var (
		once     sync.Once
		keepLogs bool // a flow failed: leave the daemons' logs for reading
	)
	cleanup := func() {
		once.Do(func() {
			l.close()
			if removeWork && !keepLogs {
				os.RemoveAll(workDir)
			}
		})
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	interrupted := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "\noemesh-lab: %v: stopping the daemons and removing the namespaces\n", s)
			close(interrupted)
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case <-sigs: // a second signal: clean up now and leave
		case <-time.After(20 * time.Second): // the main flow is stuck
		}
		cleanup()
		os.Exit(exitSignal)
	}()
	defer func() {
		if p := recover(); p != nil {
			cleanup()
			panic(p)
		}
		cleanup()
		select {
		case <-interrupted:
			err = &exitError{exitSignal, errors.New("interrupted; the lab was removed")}
		default:
		}
	}()

	fmt.Fprintf(stderr, "oemesh-lab: building the mesh (namespaces %s-*, configuration in %s)\n", f.prefix, workDir)
	if err := l.build(ctx); err != nil {
		return &exitError{exitSetup, err}
	}
	fmt.Fprintln(stderr, "oemesh-lab: mesh up; running the scenarios")
	if f.panicAfterBuild {
		panic("oemesh-lab: --panic-after-build")
	}
	results, err := l.scenarios(ctx)
	if err != nil {
		return &exitError{exitSetup, err}
	}
	if f.json {
		if err := printJSON(stdout, results); err != nil {
			return err
		}
	} else {
		printTable(stdout, results)
	}
	if f.keep && ctx.Err() == nil {
		fmt.Fprintf(stderr, "\noemesh-lab: the mesh stays up until Ctrl-C. Try:\n"+
			"  ip netns exec %s-a ping 198.18.1.10\n"+
			"  %s --socket %s traffic\n", f.prefix, filepath.Join(filepath.Dir(oemeshd), "oemesh"), l.mesh.Hosts["a"].Socket)
		<-ctx.Done()
	}
	bad := 0
	for _, r := range results.Flows {
		if !r.OK {
			bad++
		}
	}
	if bad > 0 {
		keepLogs = true
		return &exitError{exitMismatch, fmt.Errorf("%d of %d flows did not have their expected outcome (daemon logs in %s)", bad, len(results.Flows), workDir)}
	}
	return nil
}
