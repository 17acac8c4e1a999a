// Package testbin builds this module's commands for tests that run them as
// real processes (the daemon in namespaces, the CLI against it, the lab).
// Only tests may import it.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

const module = "github.com/oemesh/oemesh/cmd/"

// Build compiles the named commands (e.g. "oemeshd", "oemesh") into dir.
func Build(dir string, cmds ...string) error {
	for _, c := range cmds {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), module+c).CombinedOutput()
		if err != nil {
			return fmt.Errorf("building %s: %v\n%s", c, err, out)
		}
	}
	return nil
}

// BuildTemp builds the commands into a new temporary directory that others
// may read and enter (a test may run a binary as nobody). The caller removes
// it with the returned function.
func BuildTemp(cmds ...string) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "oemesh-test-bin-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		remove()
		return "", nil, err
	}
	if err := Build(dir, cmds...); err != nil {
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}
