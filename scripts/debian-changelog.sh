#!/bin/sh
# Prints the Debian changelog of the package (usr/share/doc/oemesh/changelog.gz, before
# gzip): oemesh is a native package, so dpkg and lintian want Debian's format there. One
# entry for the version being built, dated by its commit, that points at the release notes
# (CHANGELOG.md, shipped beside it).
# Usage: scripts/debian-changelog.sh VERSION
set -eu
cd "$(dirname "$0")/.."
version=$1
date=$(git -c safe.directory='*' log -1 --format=%cD 2>/dev/null || date -R)
printf 'oemesh (%s) unstable; urgency=medium\n\n' "$version"
printf '  * oemesh %s. The release notes are in\n' "$version"
printf '    /usr/share/doc/oemesh/CHANGELOG.md.gz.\n'
printf '\n -- oemesh developers <oemesh@users.noreply.github.com>  %s\n' "$date"
