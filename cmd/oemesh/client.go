package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// call asks the daemon and decodes its reply into out.
func (g *globalFlags) call(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return control.NewClient(g.socket).Do(ctx, method, path, in, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
