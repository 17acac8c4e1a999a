// Package netnsdir prepares /run/netns, where named network namespaces are
// bind-mounted, the way iproute2's `ip netns add` does, before the test beds
// (internal/lab, internal/netnstest) make their own namespaces there.
//
// Why it matters: vishvananda/netns's NewNamed bind-mounts a namespace on a
// file in /run/netns but leaves the directory as it finds it. On a fresh
// machine /run/netns is then a plain directory. The first `ip netns add`
// (any test, helper or program) turns it into a shared mount point by
// bind-mounting it on itself, recursively: every namespace already mounted
// there is copied into the new mount, and the original mount stays beneath
// it, hidden. Deleting such a namespace later unmounts only the visible
// copy; the file cannot be unlinked ("Device or resource busy", because
// the hidden mount still sits on the same dentry) and cannot be unmounted
// again ("not mounted"). Namespaces of a passed `make test` were left so,
// with no process in them. Preparing the directory first, exactly as
// iproute2 would, means `ip netns add` finds a shared mount point and
// changes nothing.
//
// It must never be imported by the daemon: it changes the machine's mount
// table, which is a test bed's business.
package netnsdir
