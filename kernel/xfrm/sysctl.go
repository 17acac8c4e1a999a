package xfrm

import (
	"fmt"
	"os"
	"strings"
)

const larvalDropPath = "/proc/sys/net/core/xfrm_larval_drop"

// readSysctl and writeSysctl act on the executor's network namespace:
// /proc/sys/net resolves to the namespace of the thread that opens it.
func (e *executor) readSysctl(path string) (string, error) {
	var v string
	err := e.do(func() error {
		b, err := os.ReadFile(path)
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

func (e *executor) writeSysctl(path, v string) error {
	err := e.do(func() error { return os.WriteFile(path, []byte(v), 0o644) })
	if err != nil {
		return fmt.Errorf("write %s=%s: %w", path, v, err)
	}
	return nil
}
