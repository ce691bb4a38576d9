#!/usr/bin/env bash
# Builds cnitool (the CNI project's reference client) offline into .cache/bin/cnitool, from Debian's source package
# golang-github-appc-cni at the version of the installed golang-github-appc-cni-dev, against Debian's Go libraries
# in /usr/share/gocode: nothing is downloaded except Debian packages. Debian ships no cnitool binary.
# Run as root when a deb-src entry or a package is missing. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.cache/bin/cnitool
src_root=.cache/src
pkg=golang-github-appc-cni

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "build-cnitool: $1; run as root" >&2
    exit 1
  fi
}

# Build tools and the library cnitool is built against.
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v dpkg-source >/dev/null 2>&1 || missing+=(dpkg-dev)
[ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] || missing+=(golang-github-appc-cni-dev)
if [ ${#missing[@]} -gt 0 ]; then
  need_root "missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The source package of exactly the installed library, so cnitool and libcni agree.
version=$(dpkg-query -W -f='${Version}' golang-github-appc-cni-dev)
upstream=${version#*:}
upstream=${upstream%-*}
tree="$src_root/$pkg-$upstream"

if [ ! -f "$tree/cnitool/cnitool.go" ]; then
  if ! apt-cache showsrc "$pkg" 2>/dev/null | grep -q "^Package: $pkg"; then
    need_root "apt knows no deb-src entry for $pkg"
    # deb-src entries for the same mirrors, suites and components as the configured Debian deb entries (only those
    # whose suite is this release's, so third-party repositories without sources are left out).
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
    list=/etc/apt/sources.list.d/tscni-deb-src.sources
    {
      echo "# Added by tscni's scripts/build-cnitool.sh: source entries mirroring the Debian deb entries."
      for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && [ "$f" != "$list" ] || continue
        # deb822: one stanza per paragraph; copy each stanza of Types deb for this release as Types deb-src.
        awk -v codename="$codename" '
          function flush() {
            if (isdeb && suites ~ ("(^| )" codename "([- ]|$)")) { print "Types: deb-src"; printf "%s", body; print "" }
            isdeb = 0; suites = ""; body = ""
          }
          /^[[:space:]]*$/ { flush(); next }
          /^#/ { next }
          /^Types:/ { if ($0 ~ /(^Types:| )deb( |$)/) isdeb = 1; next }
          /^Suites:/ { suites = $0; sub(/^Suites:[[:space:]]*/, "", suites) }
          /^Enabled:[[:space:]]*no/ { isdeb = 0 }
          { body = body $0 "\n" }
          END { flush() }
        ' "$f"
      done
    } > "$list.tmp"
    # One-line format (sources.list, *.list): deb lines of this release become deb-src lines.
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk -v codename="$codename" '$1 == "deb" && $0 ~ (" " codename "([- ]|$)") { $1 = "deb-src"; print }' "$f"
    done > "$list.oneline"
    if [ -s "$list.oneline" ]; then
      mv "$list.oneline" /etc/apt/sources.list.d/tscni-deb-src.list
    else
      rm -f "$list.oneline"
    fi
    if grep -q '^Types: deb-src' "$list.tmp"; then mv "$list.tmp" "$list"; else rm -f "$list.tmp"; fi
    apt-get update -qq
  fi
  mkdir -p "$src_root"
  # apt-get source downloads the .dsc and tarballs and extracts them with dpkg-source (dpkg-dev). As root it
  # notes that the sandbox user _apt cannot write here and downloads unsandboxed: harmless.
  (cd "$src_root" && apt-get source -qq "$pkg=$version" >&2)
  [ -f "$tree/cnitool/cnitool.go" ] || { echo "build-cnitool: $tree/cnitool/cnitool.go not found after apt-get source" >&2; exit 1; }
fi

# GOPATH mode against Debian's packaged Go libraries; no module proxy, no network.
mkdir -p "$(dirname "$out")"
GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH=/usr/share/gocode GOCACHE="$PWD/.cache/go-build" \
  go build -trimpath -o "$out.tmp" "./$tree/cnitool/cnitool.go"
mv "$out.tmp" "$out"
echo "build-cnitool: built $out from $pkg $version" >&2
