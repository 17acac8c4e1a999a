package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Error is the JSON body of every failed request.
type Error struct {
	Error string `json:"error"`
}

// HandlerFunc answers one request; a returned error becomes a JSON Error
// with the given status (500 unless it is a *StatusError).
type HandlerFunc func(r *http.Request) (any, error)

// StatusError is an error with an HTTP status, e.g. 400 for bad input.
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// BadRequest wraps err as a 400.
func BadRequest(format string, args ...any) error {
	return &StatusError{Code: http.StatusBadRequest, Err: fmt.Errorf(format, args...)}
}

// Server serves the control API on a unix socket.
type Server struct {
	mux *http.ServeMux
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
}

// NewServer makes a server; register handlers with Handle before Serve.
func NewServer(log *slog.Logger) *Server {
	return &Server{mux: http.NewServeMux(), log: log}
}

// Handle registers h for pattern, e.g. "GET /v1/status".
func (s *Server) Handle(pattern string, h HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		v, err := h(r)
		if err != nil {
			s.WriteError(w, r, err)
			return
		}
		json.NewEncoder(w).Encode(v)
	})
}

// WriteError answers r with err as JSON: its StatusError code, or 500.
// Raw handlers use it too, so that every error reads the same.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var se *StatusError
	if errors.As(err, &se) {
		code = se.Code
	}
	s.log.Debug("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(Error{Error: err.Error()})
}

// HandleRaw registers h for pattern as it is: for replies that are not
// JSON, such as a heap profile.
func (s *Server) HandleRaw(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
}

// Listen creates the socket at path with mode 0600 inside a 0700 directory
// it creates if missing, replacing a stale socket left by a killed daemon
// but refusing to take over one that a live daemon still answers on.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if _, err := os.Stat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("control socket %s: another oemeshd is running (it answers on the socket)", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("control socket %s: removing stale socket: %w", path, err)
		}
	}
	// Create the socket with no permissions for group and others from the start.
	ln, err := listenUnixPrivate(path)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	s.ln = ln
	return nil
}

// Serve answers requests until ctx ends or Close is called.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("control: Serve before Listen")
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.srv.Shutdown(ctx)
	}
	if s.ln != nil {
		path := s.ln.Addr().String()
		s.ln.Close()
		os.Remove(path)
	}
	return nil
}
