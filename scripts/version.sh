#!/bin/sh
# Prints the version of the tree for builds and packages (no leading v):
#   on a release tag vX.Y.Z:         X.Y.Z
#   N commits after it:              X.Y.Z+gitN.HASH   (sorts after X.Y.Z, in dpkg too)
#   no tag yet:                      X.Y.Z~git.HASH    (X.Y.Z: CHANGELOG.md's newest release;
#                                                      ~ sorts before X.Y.Z, in dpkg too)
# and .dirty at the end for a tree with uncommitted changes.
set -eu
cd "$(dirname "$0")/.."
git() { command git -c safe.directory='*' "$@"; }
dirty=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=.dirty
fi
if d=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
	# vX.Y.Z-N-gHASH
	hash=${d##*-g}
	rest=${d%-g*}
	n=${rest##*-}
	v=${rest%-*}
	v=${v#v}
	if [ "$n" = 0 ]; then
		echo "$v${dirty:++git0$dirty}"
	else
		echo "$v+git$n.$hash$dirty"
	fi
	exit 0
fi
rel=$(sed -n 's/^## \[\([0-9][^]]*\)\] - .*/\1/p' CHANGELOG.md | head -n 1)
hash=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
echo "${rel:-0.0.0}~git.$hash$dirty"
