#!/usr/bin/env bash
# Installs what tscni's tests and demo need when it is missing: Debian packages (as root) and npm dependencies.
# Safe to run again: it only acts on what is missing. Used by `npm test`, `npm run demo` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A NEED=(
  [ip]=iproute2 [bridge]=iproute2 [nsenter]=util-linux [flock]=util-linux [unshare]=util-linux
  [iptables]=iptables [ip6tables]=iptables [iptables-restore]=iptables [nft]=nftables
  [conntrack]=conntrack [curl]=curl [nginx]=nginx-light
  [ping]=iputils-ping [socat]=socat [dnsmasq]=dnsmasq-base
  # Real clients the integration tests drive tscni with: a private containerd (the Kubernetes node test and
  # `ctr run --cni`), podman (CNI backend), runc, the images' executables, and the tools to build cnitool from
  # Debian's source package.
  [containerd]=containerd [ctr]=containerd [runc]=runc [podman]=podman [catatonit]=catatonit
  [go]=golang-go [dpkg-source]=dpkg-dev
  [etcd]=etcd-server [etcdctl]=etcd-client [openssl]=openssl
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# The reference plugins, for interoperability tests and benchmarks.
[ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
# The workload image copies /bin/busybox into a layer without libraries: it must be the static build.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=(busybox-static)
# libcni's source for cnitool.
[ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] || missing+=(golang-github-appc-cni-dev)

if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: $pkgs; run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: $pkgs" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing nginx must not start a web server on the machine: the demo runs its own inside a namespace.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null || { [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
fi

# cnitool is not packaged by Debian: build it from the source package (scripts/build-cnitool.sh), once.
[ -x .cache/bin/cnitool ] || bash scripts/build-cnitool.sh

if [ ! -x node_modules/.bin/vitest ] || [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
