package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Client talks to oemeshd's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{
		path: path,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", path)
				},
			},
		},
	}
}

// WithTimeout returns a client like c whose requests may take up to d, for
// replies that take long by design (a CPU profile over a minute).
func (c *Client) WithTimeout(d time.Duration) *Client {
	h := *c.http
	h.Timeout = d
	return &Client{path: c.path, http: &h}
}

// ErrNoDaemon means nothing answers on the socket.
var ErrNoDaemon = errors.New("oemeshd is not running")

// Fetch GETs path and copies the reply, whatever its type, to w.
func (c *Client) Fetch(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://oemeshd"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return replyError(resp, "GET", path, data)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading reply to GET %s: %w", path, err)
	}
	return nil
}

// replyError turns a reply other than 200 into a StatusError carrying the
// daemon's message, or the HTTP status when the body has none.
func replyError(resp *http.Response, method, path string, body []byte) error {
	var e Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &StatusError{Code: resp.StatusCode, Err: errors.New(e.Error)}
	}
	return &StatusError{Code: resp.StatusCode, Err: fmt.Errorf("%s %s: %s", method, path, resp.Status)}
}

func (c *Client) dialError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (no daemon at %s)", ErrNoDaemon, c.path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("control socket %s: permission denied (run as root)", c.path)
	}
	return fmt.Errorf("control socket %s: %w", c.path, err)
}

// Do sends a request with an optional JSON body and decodes the JSON reply
// into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://oemeshd"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading reply to %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return replyError(resp, method, path, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding reply to %s %s: %w", method, path, err)
	}
	return nil
}
