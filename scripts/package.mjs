// `npm run package`: the release artifacts in dist/release/, from a clean checkout (builds dist/tscni when it is
// missing or older than its sources):
//   tscni-linux-<arch>-v<version>.tgz        the executable, its role links, conf/ (units, example conflists) and
//                                           SHA256SUMS; extracted into a CNI bin dir it is a working install
//   tscni_<version>_<arch>.deb              built by the system's dpkg-deb (see debLayout below)
//   tscni-image-linux-<arch>-v<version>.oci.tar  an OCI image archive (scripts/oci-image.ts), built offline
//   SHA256SUMS                              of the three
// Entries are sorted, owned by root and dated SOURCE_DATE_EPOCH (default: the last commit's time), so the same
// dist/tscni gives the same artifacts.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
process.chdir(ROOT)
// scripts/oci-image.ts is TypeScript: Node 24 runs it as it is; anything older hands over to the pinned Node.
if (process.versions.node.split('.')[0] !== '24') {
  const pinned = 'node_modules/.bin/node'
  if (!existsSync(pinned)) throw new Error(`package.mjs needs Node 24 (found ${process.version}); run npm ci first`)
  execFileSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(0)
}
const { buildImageArchive, goArch } = await import('./oci-image.ts')

const OUT = 'dist/release'
const STAGE = join(OUT, '.stage')
const version = JSON.parse(readFileSync('package.json', 'utf8')).version
const sourceVersion = /TSCNI_VERSION = '([^']+)'/.exec(readFileSync('src/cli/version.ts', 'utf8'))?.[1]
if (sourceVersion !== version) throw new Error(`package.json says ${version} but src/cli/version.ts says ${sourceVersion}: bump both`)
const arch = goArch()
const epoch = process.env.SOURCE_DATE_EPOCH || git(['log', '-1', '--format=%ct']) || '0'
const revision = git(['rev-parse', 'HEAD'])
const names = {
  archive: `tscni-linux-${arch}-v${version}.tgz`,
  deb: `tscni_${version}_${execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim()}.deb`,
  image: `tscni-image-linux-${arch}-v${version}.oci.tar`,
}
export const IMAGE_NAME = `localhost/tscni:v${version}`
const MAINTAINER = process.env.TSCNI_MAINTAINER || 'tscni developers <tscni@users.noreply.github.com>'
const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tscni

Files: *
Copyright: ${new Date(Number(epoch) * 1000).getUTCFullYear()} the tscni developers
License: Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
`
// A check, never a failure: doctor exits 1 for findings an operator fixes later (no bridge yet, no firewall tool),
// and a package must install on a node that is not ready for pods yet. DPKG_ROOT is set when dpkg installs into
// another root without chroot (--root with --force-script-chrootless): run that root's copy then.
const POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! "\${DPKG_ROOT:-}/usr/lib/cni/tscni" doctor; then
    echo "tscni: 'tscni doctor' reports something to fix on this node (above); the package is installed." >&2
  fi
fi
exit 0
`

ensureBuilt()
rmSync(OUT, { recursive: true, force: true })
mkdirSync(STAGE, { recursive: true })
try {
  buildArchive(join(STAGE, 'archive'), join(OUT, names.archive))
  buildDeb(join(STAGE, 'deb'), join(OUT, names.deb))
  buildImage(join(OUT, names.image))
  writeFileSync(join(OUT, 'SHA256SUMS'), sums(OUT, Object.values(names)))
} finally {
  rmSync(STAGE, { recursive: true, force: true })
}
for (const n of [...Object.values(names), 'SHA256SUMS']) console.log(`${join(OUT, n)}  ${(statSync(join(OUT, n)).size / 1e6).toFixed(1)} MB`)

/** Builds dist/tscni unless it is newer than everything it is built from. */
function ensureBuilt() {
  const inputs = ['src', 'build.mjs', 'scripts/sea-loader.cjs', 'scripts/train-code-cache.mjs', 'package-lock.json']
  const newest = Math.max(...inputs.flatMap((p) => files(p)).map((f) => statSync(f).mtimeMs))
  if (existsSync('dist/tscni') && statSync('dist/tscni').mtimeMs >= newest) return
  console.log('dist/tscni is missing or older than its sources: building it')
  execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' })
}

/**
 * The archive: what `tscni install --standard-names` lays out (so the role lists have one home, src/cli/install.ts),
 * plus conf/ and SHA256SUMS, flat like the reference plugins' cni-plugins-linux-<arch>-<version>.tgz.
 */
function buildArchive(dir, out) {
  mkdirSync(dir, { recursive: true })
  execFileSync('dist/tscni', ['install', '--bin-dir', dir, '--standard-names'], { stdio: 'pipe' })
  copyConf(join(dir, 'conf'))
  const regular = files(dir).map((f) => relative(dir, f)).filter((f) => !lstatSync(join(dir, f)).isSymbolicLink())
  writeFileSync(join(dir, 'SHA256SUMS'), sums(dir, regular))
  tarGz(dir, out)
}

/** conf/: the systemd units and example conflists. */
function copyConf(dest) {
  for (const f of files('conf')) {
    const to = join(dest, relative('conf', f))
    mkdirSync(dirname(to), { recursive: true })
    copyFileSync(f, to)
    chmodSync(to, 0o644)
  }
}

/**
 * The Debian package. The executable and the tscni-* role links go to /usr/lib/cni, where Debian's
 * containernetworking-plugins puts the reference plugins (podman and the Debian containerd look there). The
 * standard names (bridge, host-local, ...) are not shipped: they would be the same paths as that package's files,
 * so both packages install side by side and a config picks tscni by its tscni-* type. `tscni install --bin-dir
 * /opt/cni/bin` puts it where other runtimes look. Units are installed, not enabled; postinst runs `tscni doctor`
 * as a check whose findings never fail the installation.
 */
function buildDeb(root, out) {
  const lib = join(root, 'usr/lib/cni')
  mkdirSync(lib, { recursive: true })
  execFileSync('dist/tscni', ['install', '--bin-dir', lib], { stdio: 'pipe' })
  mkdirSync(join(root, 'usr/bin'), { recursive: true })
  symlinkSync('../lib/cni/tscni', join(root, 'usr/bin/tscni'))
  // The units call /opt/cni/bin/tscni, where `tscni install` puts it; the package's copy is /usr/bin/tscni.
  const units = join(root, 'lib/systemd/system')
  mkdirSync(units, { recursive: true })
  for (const f of ['conf/tscni-node.service', ...files('conf/systemd')]) {
    writeFileSync(join(units, basename(f)), readFileSync(f, 'utf8').replaceAll('/opt/cni/bin/tscni', '/usr/bin/tscni').replace(/^# (Copy to|Install:).*\n(#  .*\n)*/m, '# Installed by the tscni package, not enabled: systemctl enable --now <this unit>.\n'))
  }
  const doc = join(root, 'usr/share/doc/tscni')
  mkdirSync(join(doc, 'examples'), { recursive: true })
  for (const f of files('conf').filter((f) => f.endsWith('.conflist'))) copyFileSync(f, join(doc, 'examples', basename(f)))
  writeFileSync(join(doc, 'copyright'), COPYRIGHT)
  // What lintian reports that is the nature of a Node single executable, not a packaging fault.
  mkdirSync(join(root, 'usr/share/lintian/overrides'), { recursive: true })
  writeFileSync(join(root, 'usr/share/lintian/overrides/tscni'), [
    '# zlib is compiled into the Node binary that the single executable is made of.',
    'tscni: embedded-library zlib [usr/lib/cni/tscni]',
    '# The pinned upstream Node 24 binary is linked without PIE; tscni ships it as it is.',
    'tscni: hardening-no-pie [usr/lib/cni/tscni]',
    '',
  ].join('\n'))
  gzipTo(join(doc, 'changelog.gz'), `tscni (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${new Date(Number(epoch) * 1000).toUTCString().replace(/GMT$/, '+0000')}\n`)
  const man = join(root, 'usr/share/man/man8')
  mkdirSync(man, { recursive: true })
  gzipTo(join(man, 'tscni.8.gz'), manPage())
  const control = join(root, 'DEBIAN')
  mkdirSync(control)
  const installedKb = Math.ceil(files(root).filter((f) => !f.includes('/DEBIAN/')).reduce((n, f) => n + lstatSync(f).size, 0) / 1024)
  writeFileSync(join(control, 'control'), [
    'Package: tscni',
    `Version: ${version}`,
    `Architecture: ${execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim()}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKb}`,
    `Depends: ${shlibDepends()}, iproute2`,
    'Recommends: nftables | iptables',
    'Suggests: dnsmasq-base, conntrack, containernetworking-plugins',
    'Section: net',
    'Priority: optional',
    'Description: CNI bridge, host-local, portmap, loopback and dnsname plugins',
    ' tscni implements the container network plugins bridge, host-local IPAM,',
    ' portmap, loopback and dnsname in one executable, installed under the',
    ' tscni-* plugin names in /usr/lib/cni next to the reference plugins. It also',
    ' has operator commands (ls, gc, doctor, reconcile) and a node agent that puts',
    ' the pods of several nodes on one network through etcd.',
    '',
  ].join('\n'))
  writeFileSync(join(control, 'postinst'), POSTINST)
  chmodSync(join(control, 'postinst'), 0o755)
  const md5 = files(root).filter((f) => !f.includes('/DEBIAN/') && !lstatSync(f).isSymbolicLink()).map((f) => `${hash('md5', readFileSync(f))}  ${relative(root, f)}`).sort()
  writeFileSync(join(control, 'md5sums'), `${md5.join('\n')}\n`)
  for (const f of files(root)) if (!lstatSync(f).isSymbolicLink()) chmodSync(f, f.endsWith('/usr/lib/cni/tscni') || f.endsWith('/DEBIAN/postinst') ? 0o755 : 0o644)
  normalizeTimes(root)
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', root, out], { stdio: 'pipe', env: { ...process.env, SOURCE_DATE_EPOCH: epoch } })
}

/**
 * The image: the executable at /usr/local/bin/tscni and the tools its long-running commands call (ip, bridge,
 * nft, iptables in both flavours with their extensions, conntrack, nsenter, flock, sh), each with exactly the
 * shared libraries ldd says it loads. Nothing else: no package manager, no shell utilities beyond sh.
 */
function buildImage(out) {
  const tools = ['/usr/sbin/ip', '/usr/sbin/bridge', '/usr/sbin/nft', '/usr/sbin/xtables-nft-multi', '/usr/sbin/xtables-legacy-multi', '/usr/sbin/conntrack', '/usr/bin/nsenter', '/usr/bin/flock']
  const xtablesDir = '/usr/lib/x86_64-linux-gnu/xtables'.replace('x86_64-linux-gnu', multiarch())
  const extensions = existsSync(xtablesDir) ? readdirSync(xtablesDir).filter((f) => f.endsWith('.so')).map((f) => join(xtablesDir, f)).sort() : []
  const imageFiles = [{ from: 'dist/tscni', to: '/usr/local/bin/tscni', mode: 0o755 }, { from: '/usr/bin/dash', to: '/bin/sh' }]
  for (const t of tools) {
    if (!existsSync(t)) throw new Error(`${t} is missing: the image carries it (apt-get install iproute2 nftables iptables conntrack util-linux)`)
    imageFiles.push({ from: realpathSync(t), to: t })
  }
  for (const e of extensions) imageFiles.push({ from: e, to: e })
  const libs = new Set()
  for (const f of imageFiles) for (const l of sharedLibs(f.from)) libs.add(l)
  // Modes as on this machine: the dynamic loader must stay executable.
  for (const l of [...libs].sort()) imageFiles.push({ from: realpathSync(l), to: l })
  // Runtimes record pod namespaces as /var/run/netns/...; the reconcile variant mounts the host's /run/netns.
  const links = [{ to: '/var/run', target: '../run' }]
  for (const n of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
    links.push({ to: `/usr/sbin/${n}`, target: 'xtables-nft-multi' }, { to: `/usr/sbin/${n.replace('tables', 'tables-legacy')}`, target: 'xtables-legacy-multi' })
    links.push({ to: `/usr/sbin/${n.replace('tables', 'tables-nft')}`, target: 'xtables-nft-multi' })
  }
  return buildImageArchive({
    name: IMAGE_NAME,
    files: imageFiles,
    links,
    dirs: ['/run', '/var/lib', '/host'],
    entrypoint: ['/usr/local/bin/tscni'],
    cmd: ['help'],
    env: ['PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    labels: {
      'org.opencontainers.image.title': 'tscni',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.description': 'CNI plugins and node agent in one executable',
      'org.opencontainers.image.licenses': 'Apache-2.0',
      ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
    },
  }, out)
}

/** The shared libraries (and the dynamic loader) an ELF file loads, by the paths the loader finds them at. */
function sharedLibs(file) {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' })
  const libs = []
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m) libs.push(m[1])
  }
  return libs
}

function multiarch() {
  try {
    return execFileSync('dpkg-architecture', ['-qDEB_HOST_MULTIARCH'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`
  }
}

/** Depends for the executable's libraries, by dpkg-shlibdeps when dpkg-dev is there. */
function shlibDepends() {
  const fallback = 'libc6 (>= 2.34), libgcc-s1 (>= 3.4), libstdc++6 (>= 10.2)'
  const work = join(STAGE, 'shlibdeps')
  mkdirSync(join(work, 'debian'), { recursive: true })
  writeFileSync(join(work, 'debian/control'), 'Source: tscni\n\nPackage: tscni\nArchitecture: any\n')
  try {
    const out = execFileSync('dpkg-shlibdeps', ['-O', '-e', resolve('dist/tscni')], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    return /shlibs:Depends=(.*)/.exec(out)?.[1]?.trim() || fallback
  } catch {
    return fallback
  }
}

function manPage() {
  const help = execFileSync('dist/tscni', ['help'], { encoding: 'utf8' }).replaceAll('\\', '\\e').split('\n').map((l) => (l.startsWith('.') || l.startsWith("'") ? `\\&${l}` : l)).join('\n')
  return `.TH TSCNI 8 "" "tscni ${version}" "System Administration"\n.SH NAME\ntscni \\- CNI plugins and node network tools in one executable\n.SH SYNOPSIS\n.B tscni\n.I command\n[\n.I options\n]\n.SH DESCRIPTION\n.nf\n${help}\n.fi\n`
}

function tarGz(dir, out) {
  normalizeTimes(dir)
  const entries = readdirSync(dir).sort()
  const tar = execFileSync('tar', ['-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--format=gnu', '-cf', '-', ...entries], { maxBuffer: 1 << 30 })
  writeFileSync(out, execFileSync('gzip', ['-n', '-6', '-c'], { input: tar, maxBuffer: 1 << 30 }))
}

function gzipTo(file, text) {
  writeFileSync(file, execFileSync('gzip', ['-n', '-9', '-c'], { input: text }))
}

function normalizeTimes(dir) {
  execFileSync('find', [dir, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+'])
}

function sums(dir, names) {
  return names.slice().sort().map((n) => `${hash('sha256', readFileSync(join(dir, n)))}  ${n}\n`).join('')
}

function hash(algo, data) {
  return createHash(algo).update(data).digest('hex')
}

/** Every file under a path (symlinks as themselves), sorted. */
function files(path) {
  if (!existsSync(path)) return []
  const st = lstatSync(path)
  if (!st.isDirectory()) return [path]
  return readdirSync(path).sort().flatMap((n) => files(join(path, n)))
}

function git(args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

