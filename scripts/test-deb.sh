#!/usr/bin/env bash
# Tests the Debian package the way an admin meets it, in a clean Debian 12 (bookworm) system:
#   1. lintian on the .deb: every tag it prints must be listed in packaging/lintian-notes.md
#      with the reason it stays;
#   2. dpkg -i: the install succeeds, with the maintainer scripts run, and the postinst does
#      not start or enable the daemon without a host key, and prints the next steps;
#   3. the binaries run: `oemesh version` and `oemeshd --version` agree, `oemeshd
#      --check-config` passes with the shipped configuration, before and after `oemesh
#      newhostkey`, and `man oemeshd` finds its page;
#   4. systemd-analyze verify on the unit as installed (paths, man page), and
#      systemd-analyze security --offline with the threshold in packaging/security-threshold;
#   5. dpkg --purge: afterwards no file of the package, nor /etc/oemesh, is left;
#   6. in a second clean system booted with systemd-nspawn (systemd as PID 1): oemeshd runs
#      under the unit as shipped, sandbox and all, answers `oemesh status`, and survives
#      `systemctl reload`; Type=notify (READY, the watchdog, STATUS=) and journald's fields and
#      priorities are checked there.
#
# The base system is built once with debootstrap (minbase plus lintian, systemd and man-db,
# from the Debian mirror the host's apt sources name) and cached in $OEMESH_TEST_CACHE
# (default /var/cache/oemesh-test/bookworm; about 60 s to build). Each run mounts an overlay
# on it in a private mount namespace, so the base is never changed, every run starts clean,
# and nothing is left mounted when the script ends, whatever way it ends.
#
# Usage (root): scripts/test-deb.sh dist/oemesh_VERSION_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test-deb: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"
DEB=${1:-}
[ -f "$DEB" ] || die "usage: $0 PATH.deb (run make deb first)"
DEB=$(realpath "$DEB")

SUITE=bookworm
CACHE=${OEMESH_TEST_CACHE:-/var/cache/oemesh-test}
BASE=$CACHE/$SUITE
# Changing this list rebuilds the cached base (the stamp holds it).
BASE_PACKAGES=lintian,systemd,man-db,procps
STAMP="$SUITE minbase $BASE_PACKAGES"

# host_mirror prints the first http(s) mirror for the host's release in its apt sources: the
# archive that is known to be reachable from here.
host_mirror() {
	local f uri
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$SUITE" '$1 == "deb" && $3 == s && $2 ~ /^https?:/ { print $2; exit }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
			{ uris = ""; suites = ""
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) uris = substr($i, 6)
				if ($i ~ /^Suites:/) suites = substr($i, 8)
			  }
			  if ((" " suites " ") ~ (" " s " ")) { split(uris, u, " "); print u[1]; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	echo http://deb.debian.org/debian
}

build_base() {
	if [ -f "$BASE/.oemesh-stamp" ] && [ "$(cat "$BASE/.oemesh-stamp")" = "$STAMP" ]; then
		return 0
	fi
	command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
	local build=$BASE.build mirror t0
	# A mount left under the build dir would make rm -rf reach the host's /proc: refuse.
	if grep -q " $build[/ ]" /proc/self/mountinfo; then
		die "something is mounted under $build; unmount it (findmnt -R $build) and run again"
	fi
	rm -rf "$build"
	mkdir -p "$build"
	mirror=$(host_mirror)
	t0=$(date +%s)
	log "debootstrap --variant=minbase $SUITE from $mirror into $build, then apt-get install $BASE_PACKAGES (once; cached)"
	# debootstrap and apt-get mount proc and sys in the target: in a private mount namespace
	# they vanish with it, also when either fails half-way. (debootstrap --include=lintian
	# fails here: its dependency order leaves libnet-ssleay-perl unconfigured.)
	if ! unshare --mount --propagation private bash -euo pipefail -c '
		debootstrap --variant=minbase "$1" "$2" "$3"
		cp /etc/resolv.conf "$2/etc/resolv.conf"
		mount -t proc proc "$2/proc"
		chroot "$2" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $4
		chroot "$2" apt-get clean
		umount "$2/proc"' _ "$SUITE" "$build" "$mirror" "${BASE_PACKAGES//,/ }" >"$CACHE/debootstrap.log" 2>&1; then
		[ -f "$build/debootstrap/debootstrap.log" ] && cat "$build/debootstrap/debootstrap.log" >>"$CACHE/debootstrap.log"
		tail -n 15 "$CACHE/debootstrap.log" >&2
		die "building the $SUITE base from $mirror failed (log: $CACHE/debootstrap.log)"
	fi
	rm -rf "$build"/var/cache/apt/archives/*.deb
	echo "$STAMP" >"$build/.oemesh-stamp"
	rm -rf "$BASE"
	mv "$build" "$BASE"
	log "base system ready in $(($(date +%s) - t0)) s"
}

mkdir -p "$CACHE"
build_base

RUN=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/root"
cp "$DEB" "$RUN/upper.deb"
cp packaging/lintian-notes.md packaging/security-threshold "$RUN/"

# Everything that mounts runs in a private mount namespace: the overlay and /proc, /dev go
# away with it.
unshare --mount --propagation private bash -euo pipefail -s "$BASE" "$RUN" <<'EOF'
BASE=$1 RUN=$2 R=$RUN/root
log() { printf 'test-deb: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$RUN/upper,workdir=$RUN/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
cp "$RUN/upper.deb" "$R/tmp/oemesh.deb"
inroot() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

log "files before the install"
snapshot() { inroot find / -xdev \( -path /proc -o -path /tmp -o -path /run -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd/deb-systemd-helper-enabled -o -path /var/lib/systemd/deb-systemd-helper-masked \) -prune -o -print | sort; }
snapshot >"$RUN/before"

log "lintian"
inroot lintian --no-tag-display-limit --display-info /tmp/oemesh.deb >"$RUN/lintian.out" 2>&1 || true
cat "$RUN/lintian.out" >&2
# Each remaining tag must be explained in packaging/lintian-notes.md (as `tag-name`).
bad=0
while read -r sev _ tag _; do
	case $sev in E:|W:|I:) ;; *) continue ;; esac
	grep -q "\`$tag\`" "$RUN/lintian-notes.md" || { log "lintian tag $tag is not explained in packaging/lintian-notes.md"; bad=1; }
done <"$RUN/lintian.out"
[ $bad = 0 ] || die "unexplained lintian tags"

log "dpkg -i"
inroot dpkg -i /tmp/oemesh.deb >"$RUN/install.out" 2>&1 || { cat "$RUN/install.out" >&2; die "dpkg -i failed"; }
cat "$RUN/install.out" >&2
grep -q "oemesh newhostkey" "$RUN/install.out" || die "the postinst did not print the next step (oemesh newhostkey)"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/oemeshd.service" ] || die "the postinst enabled oemeshd without a host key"
for f in /usr/sbin/oemeshd /usr/bin/oemesh /lib/systemd/system/oemeshd.service /etc/oemesh/oemesh.yaml \
	/usr/share/man/man8/oemeshd.8.gz /usr/share/man/man8/oemesh.8.gz /usr/share/man/man5/oemesh.yaml.5.gz \
	/usr/share/bash-completion/completions/oemesh /usr/share/zsh/vendor-completions/_oemesh \
	/usr/share/fish/vendor_completions.d/oemesh.fish /usr/share/doc/oemesh/copyright; do
	[ -e "$R$f" ] || die "$f is not installed"
done
[ -d "$R/etc/ipsec.d/policies" ] || die "/etc/ipsec.d/policies is not installed"
inroot dpkg-query --control-show oemesh conffiles | grep -q '^/etc/oemesh/oemesh.yaml' || die "/etc/oemesh/oemesh.yaml is not a conffile"

log "the binaries"
inroot oemesh version
inroot oemeshd --version
v1=$(inroot oemesh version) v2=$(inroot oemeshd --version)
[ "${v1#oemesh }" = "${v2#oemeshd }" ] || die "oemesh version ($v1) and oemeshd --version ($v2) disagree"
inroot oemeshd --check-config || die "oemeshd --check-config failed with the shipped configuration"
inroot oemesh newhostkey
[ "$(stat -c %a "$R/etc/oemesh/hostkey.pem")" = 600 ] || die "oemesh newhostkey made a host key that others can read"
inroot oemeshd --check-config || die "oemeshd --check-config failed with the shipped configuration and a new host key"
inroot man -w oemeshd >/dev/null || die "man oemeshd finds no page"

log "systemd-analyze verify"
inroot systemd-analyze verify /lib/systemd/system/oemeshd.service 2>&1 | tee "$RUN/verify.out" >&2
[ ! -s "$RUN/verify.out" ] || die "systemd-analyze verify complained about the unit"
log "systemd-analyze security (threshold $(cat "$RUN/security-threshold"))"
inroot systemd-analyze security --offline=true --no-pager --threshold="$(cat "$RUN/security-threshold")" \
	/lib/systemd/system/oemeshd.service >&2 || die "systemd-analyze security scored the unit above packaging/security-threshold"

log "dpkg --purge"
# The purge removes the host key `oemesh newhostkey` made above too (the postrm does, as
# openssh-server's does with its host keys): nothing may be left.
inroot dpkg --purge oemesh >&2 || die "dpkg --purge failed"
snapshot >"$RUN/after"
if ! diff -u "$RUN/before" "$RUN/after" >&2; then die "dpkg --purge left files behind (above)"; fi

# 6. The daemon under the unit as shipped, with systemd as PID 1: the sandbox must leave it
#    what it needs. A second overlay on the base, booted with systemd-nspawn in a private
#    network namespace; a oneshot unit checks oemeshd, reloads it, and powers off.
log "oemeshd under systemd (systemd-nspawn --boot)"
B=$RUN/boot
mkdir -p "$B/upper" "$B/work" "$B/root"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$B/upper,workdir=$B/work" "$B/root"
cp "$RUN/upper.deb" "$B/root/tmp/oemesh.deb"
mount -t proc proc "$B/root/proc"
chroot "$B/root" dpkg -i /tmp/oemesh.deb >/dev/null 2>&1 || die "dpkg -i failed in the boot root"
chroot "$B/root" oemesh newhostkey >/dev/null
echo 192.0.2.0/24 >"$B/root/etc/ipsec.d/policies/private-or-clear"
cat >"$B/root/etc/systemd/system/oemesh-deb-test.service" <<'UNIT'
[Unit]
Description=test-deb: check oemeshd, reload it, power off
After=oemeshd.service
Wants=oemeshd.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do oemesh status >/dev/null 2>&1 && break; sleep 1; done; \
	systemctl is-active oemeshd >/result 2>&1; oemesh status >>/result 2>&1; \
	systemctl show -p Type -p NotifyAccess -p WatchdogUSec -p StatusText oemeshd >>/result 2>&1; \
	systemctl reload oemeshd; sleep 1; echo "after reload: $$(systemctl is-active oemeshd)" >>/result; \
	echo "by field: $$(journalctl -u oemeshd -o cat --no-pager CONTROL_SOCKET=/run/oemesh/oemeshd.sock | head -n 1)" >>/result; \
	echo "info: $$(journalctl -u oemeshd -o cat --no-pager -p info..info | grep -c "reload done")" >>/result; \
	journalctl -u oemeshd --no-pager >>/result 2>&1; systemctl poweroff'
[Install]
WantedBy=multi-user.target
UNIT
chroot "$B/root" systemctl enable oemeshd.service oemesh-deb-test.service >/dev/null 2>&1
umount "$B/root/proc"
timeout 120 systemd-nspawn --quiet --directory="$B/root" --private-network --register=no --keep-unit \
	--machine=oemesh-deb-test --boot --console=pipe </dev/null >"$B/console" 2>&1 || log "systemd-nspawn exited with $?"
[ -f "$B/root/result" ] || { tail -n 30 "$B/console" >&2; die "the booted system wrote no result"; }
cat "$B/root/result" >&2
[ "$(head -n 1 "$B/root/result")" = active ] || die "oemeshd did not start under its unit (journal above)"
grep -q "^oemeshd .*, pid " "$B/root/result" || die "oemesh status did not reach the daemon under its unit"
grep -q "^after reload: active$" "$B/root/result" || die "oemeshd did not survive systemctl reload"
# Type=notify with a watchdog, and a STATUS= line from the daemon.
grep -q "^Type=notify$" "$B/root/result" || die "the unit is not Type=notify"
grep -q "^WatchdogUSec=[1-9]" "$B/root/result" || die "the unit has no watchdog"
grep -q "^StatusText=.*policy" "$B/root/result" || die "oemeshd sent no STATUS= line"
# journald: entries with priorities and searchable fields, without our own timestamp.
grep -q "^by field: oemeshd started version=" "$B/root/result" || die "journalctl CONTROL_SOCKET=... did not find the start entry: no journal fields"
grep -q "^info: [1-9]" "$B/root/result" || die "the reload's entry is not at priority info"
! grep -q "oemeshd\[[0-9]*\]: time=" "$B/root/result" || die "the journal lines carry our own time= field"
log "ok"
EOF
