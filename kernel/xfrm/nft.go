package xfrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// nft runs an nft(8) script (`nft -f -`) on the executor's thread, so in
// the data plane's namespace: a child process inherits the namespace of
// the thread that starts it, and this one is locked to it. One script is
// one kernel transaction.
func (e *executor) nft(ctx context.Context, script string) error {
	return e.do(func() error {
		path, err := exec.LookPath(nftCommand)
		if err != nil {
			return fmt.Errorf("no %s command (Debian package nftables): %w", nftCommand, err)
		}
		cmd := exec.CommandContext(ctx, path, "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s -f -: %w: %s (script: %q)", nftCommand, err, strings.TrimSpace(out.String()), script)
		}
		return nil
	})
}

// nftTables lists the namespace's nftables tables as (family, name).
func (e *executor) nftTables(ctx context.Context) ([][2]string, error) {
	var raw []byte
	err := e.do(func() error {
		path, err := exec.LookPath(nftCommand)
		if err != nil {
			return fmt.Errorf("no %s command (Debian package nftables): %w", nftCommand, err)
		}
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, path, "list", "tables")
		cmd.Stderr = &stderr
		raw, err = cmd.Output()
		if err != nil {
			return fmt.Errorf("%s list tables: %w: %s", nftCommand, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parseNftTables(string(raw))
}

// parseNftTables reads `nft list tables`: one "table <family> <name>" a
// line.
func parseNftTables(out string) ([][2]string, error) {
	var tables [][2]string
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || f[0] != "table" {
			return nil, fmt.Errorf("%s list tables: line %d: %q is not \"table <family> <name>\"", nftCommand, i+1, line)
		}
		tables = append(tables, [2]string{f[1], f[2]})
	}
	return tables, nil
}

// removeCATTables deletes every CAT table in the namespace (ours by their
// name), whatever run installed it; without nft there are none.
func (d *Dataplane) removeCATTables(ctx context.Context) (int, error) {
	if _, err := exec.LookPath(nftCommand); err != nil {
		return 0, nil
	}
	tables, err := d.ex.nftTables(ctx)
	if err != nil {
		return 0, err
	}
	var (
		errs []error
		n    int
	)
	for _, t := range tables {
		if !strings.HasPrefix(t[1], catTablePrefix) {
			continue
		}
		if err := d.ex.nft(ctx, removeTableScript(t[0], t[1])); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
