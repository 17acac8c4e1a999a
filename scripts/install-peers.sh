#!/usr/bin/env bash
# Installs the IKE interop peers that internal/peers starts in network namespaces:
#
#   Libreswan (pluto, whack): the Debian package, installed with apt. Its systemd service
#     is neither started nor left enabled: the tests run their own pluto instances, each
#     with its own config, NSS db and run dir, inside namespaces.
#   strongSwan (charon-systemd, swanctl): Debian 12's .debs, downloaded with apt and unpacked
#     with `dpkg -x` into $OEMESH_PEERS_ROOT/strongswan, NOT registered with dpkg, because
#     Debian's libreswan declares Conflicts: strongswan-libcharon. Wrappers in
#     $OEMESH_PEERS_ROOT/bin run each binary in a private mount namespace with
#     $OEMESH_PEERS_ROOT/strongswan/usr/lib overlaid on /usr/lib, so the compiled-in
#     /usr/lib/ipsec library and plugin paths resolve. Nothing under /etc or /usr changes.
#   strongSwan 6.1 with ML-KEM (charon-systemd, swanctl): Debian 12 has only 5.9.8, so a
#     minimal Debian sid system is built with debootstrap into $OEMESH_PEERS_ROOT/sid, from
#     the Debian mirror the host's apt sources already name, and strongSwan is installed in
#     it with the chroot's own apt. internal/peers runs it in a private mount namespace
#     (StrongSwanConfig.Version = StrongSwan6). All mounts made while building (proc, sys)
#     are made in a private mount namespace too, so none is left on the host. The chroot
#     is about 250 MB; building it takes 35 s here (most of it downloads).
#
# Idempotent and non-interactive; a second run checks the stamps and the binaries and takes
# a few seconds. Never removes a package: if an installed package conflicts, it stops with
# a message.
# Usage (root): scripts/install-peers.sh [--force]   (--force re-unpacks strongSwan 5.9.8
# and rebuilds the sid chroot)
set -euo pipefail

ROOT=${OEMESH_PEERS_ROOT:-/opt/oemesh-peers}
SS_ROOT=$ROOT/strongswan
BIN=$ROOT/bin
STAMP=$SS_ROOT/.oemesh-installed
# Packages unpacked into $SS_ROOT. strongswan-charon, -starter and -pki are not needed:
# charon-systemd is the swanctl/vici daemon, and keys are made by the tests in Go.
SS_PKGS=(libstrongswan libstrongswan-standard-plugins libstrongswan-extra-plugins
	strongswan-libcharon libcharon-extra-plugins strongswan-swanctl charon-systemd)
# Plugins internal/peers loads; each must load with the system's libraries.
SS_PLUGINS=(random nonce openssl pem pkcs1 pkcs8 x509 pubkey constraints revocation curve25519
	aes sha1 sha2 hmac gcm chapoly kdf kernel-netlink kernel-libipsec socket-default vici)
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -q)

log() { printf 'install-peers: %s\n' "$*" >&2; }
# cleanup: what this run made and must not leave behind (temporary policy-rc.d, downloads)
MADE_POLICY=0
TMP=
cleanup() {
	if [ "$MADE_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, /opt)"
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

export DEBIAN_FRONTEND=noninteractive
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	apt-get "${APT_OPTS[@]}" update -qq
	APT_UPDATED=1
}
# apt_install PKG...: installs what is missing; --no-remove makes apt abort instead of
# removing anything (a conflicting package stays, and we fail with apt's reason).
apt_install() {
	local missing=() p
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	[ "${#missing[@]}" -eq 0 ] && return 0
	apt_update
	log "apt-get install ${missing[*]}"
	apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed (a conflicting package installed? see above)"
}

# ------------------------------------------------------------------ Libreswan
install_libreswan() {
	if installed libreswan; then
		return 0
	fi
	local p
	for p in strongswan-libcharon strongswan-starter strongswan-charon; do
		installed "$p" && die "package $p is installed and conflicts with libreswan; internal/peers needs Debian's libreswan (remove $p, or run the tests on another machine)"
	done
	# Keep maintainer scripts from starting ipsec.service (invoke-rc.d and deb-systemd-invoke
	# honour policy-rc.d). Only when no policy-rc.d exists: an admin's one is left alone.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# temporary, from oemesh scripts/install-peers.sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		MADE_POLICY=1
	fi
	apt_install libreswan
	if [ "$MADE_POLICY" = 1 ]; then
		rm -f /usr/sbin/policy-rc.d
		MADE_POLICY=0
	fi
	# The package enables ipsec.service on first install; the tests never use it. Record it as
	# disabled for dpkg (so upgrades keep it off; deb-systemd-helper only acts when it believes
	# dpkg called it) and remove the unit's symlinks (systemctl works without a running systemd).
	DPKG_MAINTSCRIPT_PACKAGE=libreswan deb-systemd-helper disable ipsec.service >/dev/null 2>&1 || true
	if command -v systemctl >/dev/null; then
		systemctl disable ipsec.service >/dev/null 2>&1 || true
	fi
	if [ -d /run/systemd/system ]; then
		# We installed it just now, so a running system pluto is one we started.
		systemctl stop ipsec.service >/dev/null 2>&1 || true
	fi
	log "installed libreswan $(dpkg-query -W -f='${Version}' libreswan) (ipsec.service disabled, not started)"
}

check_libreswan() {
	local f
	for f in /usr/libexec/ipsec/pluto /usr/libexec/ipsec/whack /usr/libexec/ipsec/addconn /usr/sbin/ipsec; do
		[ -x "$f" ] || die "libreswan is installed but $f is missing"
	done
	if [ -d /run/systemd/system ] && systemctl is-enabled --quiet ipsec.service 2>/dev/null; then
		log "note: ipsec.service is enabled on this machine (not by this script); the tests do not use it"
	fi
}

# ------------------------------------------------------------------ strongSwan
# candidate versions of SS_PKGS, one "name=version" per line: the stamp's content
ss_wanted() {
	local p v
	for p in "${SS_PKGS[@]}"; do
		v=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
		[ -n "$v" ] && [ "$v" != "(none)" ] || return 1
		printf '%s=%s\n' "$p" "$v"
	done
}

install_strongswan() {
	if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ -x "$SS_ROOT/usr/sbin/charon-systemd" ]; then
		return 0
	fi
	local wanted
	if ! wanted=$(ss_wanted); then
		apt_update
		wanted=$(ss_wanted) || die "apt knows no candidate for one of: ${SS_PKGS[*]}"
	fi
	mkdir -p "$ROOT"
	TMP=$(mktemp -d "$ROOT/.unpack.XXXXXX")
	local tmp=$TMP
	mkdir -p "$tmp/debs" "$tmp/root"
	# apt downloads as user _apt; let it write there (else apt warns and falls back to root)
	chmod 0755 "$tmp"
	if id _apt >/dev/null 2>&1; then chown _apt "$tmp/debs"; fi
	# shellcheck disable=SC2046
	(cd "$tmp/debs" && apt-get "${APT_OPTS[@]}" download $(echo "$wanted") >/dev/null) || {
		apt_update
		(cd "$tmp/debs" && apt-get "${APT_OPTS[@]}" download $(echo "$wanted") >/dev/null)
	} || die "apt-get download ${SS_PKGS[*]} failed"
	local deb deps=()
	for deb in "$tmp"/debs/*.deb; do
		dpkg -x "$deb" "$tmp/root"
		# runtime libraries the .debs need from the system (first alternative of each)
		while read -r d; do
			[ -n "$d" ] && deps+=("$d")
		done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g')
	done
	local sysdeps=() d s skip
	for d in "${deps[@]}"; do
		skip=0
		for s in "${SS_PKGS[@]}" "${sysdeps[@]}"; do [ "$d" = "$s" ] && skip=1; done
		[ "$skip" = 0 ] && sysdeps+=("$d")
	done
	apt_install "${sysdeps[@]}"
	printf '%s\n' "$wanted" >"$tmp/root/.oemesh-installed"
	rm -rf "$SS_ROOT.old"
	[ -d "$SS_ROOT" ] && mv "$SS_ROOT" "$SS_ROOT.old"
	mv "$tmp/root" "$SS_ROOT"
	rm -rf "$SS_ROOT.old"
	log "unpacked strongSwan $(sed -n 's/^charon-systemd=//p' "$STAMP") into $SS_ROOT"
}

# Wrapper: run a strongSwan binary from $SS_ROOT with $SS_ROOT/usr/lib over /usr/lib, in a
# private mount namespace (so nothing is visible outside the process).
write_wrappers() {
	mkdir -p "$BIN"
	local name path
	for name in charon-systemd swanctl; do
		path=/usr/sbin/$name
		cat >"$BIN/$name.tmp" <<EOF
#!/bin/sh
# Generated by oemesh scripts/install-peers.sh: runs strongSwan's $name from $SS_ROOT.
exec unshare --mount --propagation private sh -c 'mount -t overlay oemesh-strongswan -o "lowerdir=\$0/usr/lib:/usr/lib" /usr/lib && exec "\$0$path" "\$@"' "$SS_ROOT" "\$@"
EOF
		chmod 0755 "$BIN/$name.tmp"
		mv "$BIN/$name.tmp" "$BIN/$name"
	done
}

check_strongswan() {
	# swanctl refuses to start without a strongswan.conf; an empty one will do
	: >"$ROOT/empty-strongswan.conf"
	# (--version prints its own version, then fails to reach a daemon: that is expected)
	local out
	out=$(STRONGSWAN_CONF=$ROOT/empty-strongswan.conf "$BIN/swanctl" --version 2>&1 || true)
	grep -q '^strongSwan .* swanctl$' <<<"$out" ||
		die "$BIN/swanctl does not run (overlay mount or libraries): $out"
	local p so missing=""
	for p in "${SS_PLUGINS[@]}"; do
		so=$SS_ROOT/usr/lib/ipsec/plugins/libstrongswan-$p.so
		[ -f "$so" ] || die "strongSwan plugin $p missing: $so"
		missing+=$(LD_LIBRARY_PATH=$SS_ROOT/usr/lib/ipsec ldd "$so" 2>/dev/null | grep 'not found' | sed "s|^|$p: |" || true)
	done
	missing+=$(LD_LIBRARY_PATH=$SS_ROOT/usr/lib/ipsec ldd "$SS_ROOT/usr/sbin/charon-systemd" | grep 'not found' || true)
	[ -z "$missing" ] || die "strongSwan libraries not found: $missing"
}

# ------------------------------------------------------------------ strongSwan 6.1 (sid chroot)
SID=$ROOT/sid
SID_STAMP=$SID/.oemesh-installed
SID_SUITE=sid
# What internal/peers runs from the chroot: charon-systemd and swanctl, the openssl plugin
# (ML-KEM through OpenSSL >= 3.5), curve25519 and friends, kernel-libipsec.
SID_PKGS=(charon-systemd strongswan-swanctl libstrongswan-standard-plugins
	libstrongswan-extra-plugins libcharon-extra-plugins)
# The oldest strongSwan with ML-KEM in Debian's build (6.0.1 in trixie has none).
SID_MIN_VERSION=6.1

# host_mirror: the Debian mirror URI that the host's apt sources use for its own release
# (one-line .list or deb822 .sources). Nothing else is hard-coded: a machine behind a local
# mirror keeps using it.
host_mirror() {
	local codename f uri
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || return 1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$codename" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s && $i ~ /^https?:/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: paragraphs separated by blank lines; a paragraph with Suites: <codename> and
		# Types: deb gives its first http(s) URI.
		uri=$(awk -v s="$codename" 'BEGIN { RS = ""; FS = "\n" }
			{ types = ""; uris = ""; suites = ""
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/) types = substr($i, 7)
				if ($i ~ /^URIs:/) uris = substr($i, 6)
				if ($i ~ /^Suites:/) suites = substr($i, 8)
			  }
			  if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ")) {
				n = split(uris, u, " "); for (j = 1; j <= n; j++) if (u[j] ~ /^https?:/) { print u[j]; exit }
			  } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	return 1
}

# sid_ok: the chroot is complete (stamp written last) and its swanctl runs and is 6.x.
sid_ok() {
	[ -f "$SID_STAMP" ] && [ -x "$SID/usr/sbin/charon-systemd" ] || return 1
	local v
	# 6.1's swanctl --version also asks a daemon, fails, and prints its usage, which names
	# its version: "strongSwan 6.1.0 swanctl (--version/-V)". Running it proves the binary
	# and its libraries load.
	v=$(chroot "$SID" /usr/sbin/swanctl --version 2>&1 | sed -n 's/^strongSwan \([0-9][^ ]*\) swanctl.*/\1/p' | head -n 1)
	[ -n "$v" ] && dpkg --compare-versions "$v" ge "$SID_MIN_VERSION"
}

# in_private_mounts DIR CMD...: runs CMD in a private mount namespace with proc and sys
# mounted in the chroot DIR; the mounts end with the namespace, whatever CMD does.
in_private_mounts() {
	local dir=$1
	shift
	unshare --mount --propagation private sh -c '
		mount -t proc proc "$0/proc" && mount -t sysfs sys "$0/sys" && exec "$@"' "$dir" "$@"
}

# in_debootstrap_ns CMD...: debootstrap mounts proc and sys in its target; in a private
# mount namespace they vanish with it, also when debootstrap fails half-way.
in_debootstrap_ns() {
	unshare --mount --propagation private "$@"
}

install_sid() {
	if [ "$FORCE" = 0 ] && sid_ok; then
		return 0
	fi
	apt_install debootstrap
	local mirror build=$ROOT/.sid.build t0
	mirror=$(host_mirror) || die "no Debian mirror for $(. /etc/os-release && echo "$VERSION_CODENAME") in /etc/apt/sources.list{,.d/}: cannot choose where debootstrap fetches sid from"
	# A mount under the build dir (a crashed earlier run that did not use a private mount
	# namespace) would make rm -rf reach the host's /proc or /dev: refuse instead.
	if grep -q " $build[/ ]" /proc/self/mountinfo; then
		die "something is mounted under $build; unmount it (findmnt -R $build) and run again"
	fi
	rm -rf "$build"
	mkdir -p "$build"
	t0=$(date +%s)
	log "debootstrap --variant=minbase $SID_SUITE from $mirror into $build (about 20-90 s, depending on the mirror)"
	if ! in_debootstrap_ns debootstrap --variant=minbase "$SID_SUITE" "$build" "$mirror" >"$ROOT/sid-debootstrap.log" 2>&1; then
		[ -f "$build/debootstrap/debootstrap.log" ] && cat "$build/debootstrap/debootstrap.log" >>"$ROOT/sid-debootstrap.log"
		tail -n 15 "$ROOT/sid-debootstrap.log" >&2
		rm -rf "$build"
		die "debootstrap of Debian $SID_SUITE from $mirror failed (full log: $ROOT/sid-debootstrap.log)"
	fi
	# DNS for the chroot's apt; no service may start inside the chroot
	rm -f "$build/etc/resolv.conf"
	cp -L /etc/resolv.conf "$build/etc/resolv.conf"
	printf '#!/bin/sh\n# from oemesh scripts/install-peers.sh: no daemons start in this chroot\nexit 101\n' >"$build/usr/sbin/policy-rc.d"
	chmod 0755 "$build/usr/sbin/policy-rc.d"
	# A mirror that serves a snapshot of the archive (as the one this machine uses does; its own
	# apt.conf.d turns the same checks off) has a sid Release file past its Valid-Until date,
	# and apt refuses it. Signatures are still checked; only the date checks are off, in the
	# chroot only.
	printf '// from oemesh scripts/install-peers.sh\nAcquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' >"$build/etc/apt/apt.conf.d/99oemesh-snapshot"
	log "installing ${SID_PKGS[*]} in the $SID_SUITE chroot (about 15-30 s)"
	if ! in_private_mounts "$build" chroot "$build" sh -c '
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C
		apt-get -q -o Acquire::Retries=3 update &&
		apt-get -q -o Acquire::Retries=3 install -y --no-install-recommends "$@" &&
		apt-get clean' sh "${SID_PKGS[@]}" >"$ROOT/sid-apt.log" 2>&1; then
		tail -n 15 "$ROOT/sid-apt.log" >&2
		rm -rf "$build"
		die "apt-get install ${SID_PKGS[*]} in the $SID_SUITE chroot from $mirror failed (full log: $ROOT/sid-apt.log)"
	fi
	local v
	v=$(chroot "$build" dpkg-query -W -f='${Version}' charon-systemd) || die "charon-systemd is not installed in the $SID_SUITE chroot"
	dpkg --compare-versions "$v" ge "$SID_MIN_VERSION" ||
		die "Debian $SID_SUITE has strongSwan $v; the PQ interop tests need >= $SID_MIN_VERSION (ML-KEM)"
	{
		printf 'suite=%s\nmirror=%s\n' "$SID_SUITE" "$mirror"
		chroot "$build" dpkg-query -W -f='${Package}=${Version}\n' "${SID_PKGS[@]}" libssl3t64 2>/dev/null || true
	} >"$build/.oemesh-installed.tmp"
	mv "$build/.oemesh-installed.tmp" "$build/.oemesh-installed"
	rm -rf "$SID.old"
	[ -d "$SID" ] && mv "$SID" "$SID.old"
	mv "$build" "$SID"
	rm -rf "$SID.old"
	log "built the $SID_SUITE chroot with strongSwan $v in $SID in $(($(date +%s) - t0)) s"
}

check_sid() {
	sid_ok || die "the $SID_SUITE chroot in $SID is incomplete (swanctl does not run, or is older than $SID_MIN_VERSION); run scripts/install-peers.sh --force"
	local p
	for p in openssl curve25519 kernel-libipsec kernel-netlink socket-default vici pubkey pkcs8 nonce random; do
		[ -f "$SID/usr/lib/ipsec/plugins/libstrongswan-$p.so" ] ||
			die "strongSwan plugin $p missing in the $SID_SUITE chroot ($SID); run scripts/install-peers.sh --force"
	done
}

start=$(date +%s)
# one run at a time (parallel `make deps` on a shared machine): apt has its own lock, the
# unpacked tree does not
mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
install_libreswan
check_libreswan
install_strongswan
write_wrappers
check_strongswan
install_sid
check_sid
log "ready in $(($(date +%s) - start)) s: libreswan $(dpkg-query -W -f='${Version}' libreswan), strongSwan $(sed -n 's/^charon-systemd=//p' "$STAMP") in $SS_ROOT, wrappers in $BIN, strongSwan $(sed -n 's/^charon-systemd=//p' "$SID_STAMP") in $SID"
