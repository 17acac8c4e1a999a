package control

import (
	"net"
	"syscall"
)

// listenUnixPrivate listens on a unix socket that only its owner (root) can
// connect to. The umask is not touched (it is process-wide); instead the
// socket is chmod-ed before anyone is told it exists, and the directory
// holding it is 0700.
func listenUnixPrivate(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
