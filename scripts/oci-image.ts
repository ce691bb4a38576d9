// Builds a single-layer OCI image archive offline from files of this machine (no registry, no network). Shared by
// the release packaging (scripts/package.mjs: the tscni image) and the tests (test/support/oci-image.ts: the pause
// and busybox images). Plain TypeScript with erasable types only, so Node 24 runs it without a build step.
//
// The result is an OCI image-layout tar (OCI image-spec, image-layout.md): `oci-layout`, `index.json` and
// `blobs/sha256/<digest>` for the manifest, the config and one gzip layer. The index entry carries the name both
// as `org.opencontainers.image.ref.name` (read by podman's oci-archive transport) and as `io.containerd.image.name`
// (read by `ctr images import`), so `ctr -n k8s.io images import FILE` and `podman load -i FILE` both tag it.
// Every entry has root ownership and time 0, entries are sorted and gzip leaves out name and time, so the same
// files give the same digests.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

export interface ImageFile {
  /** A file on this machine. */
  from: string
  /** Its absolute path inside the image. */
  to: string
  /** Permission bits inside the image; the source file's when omitted. */
  mode?: number
}

export interface ImageSpec {
  /** Full image reference, e.g. `localhost/tscni-test/pause:1`. */
  name: string
  files: ImageFile[]
  links?: Array<{ to: string; target: string }>
  entrypoint?: string[]
  cmd?: string[]
  env?: string[]
  /** Image config labels (`org.opencontainers.image.version`, ...). */
  labels?: Record<string, string>
  /** Extra empty directories inside the image. */
  dirs?: string[]
}

/** What was built: the reference and the manifest digest (what `ctr images ls` shows). */
export interface BuiltImage {
  name: string
  digest: string
}

// Directories runtimes mount over or write into; runc creates missing mount points, but an image without them
// makes every runtime do extra work and some refuse a missing /etc for hosts and resolv.conf.
const BASE_DIRS = ['/etc', '/tmp', '/proc', '/sys', '/dev', '/bin']

/** Builds the archive at `outTar` (overwritten). */
export function buildImageArchive(spec: ImageSpec, outTar: string): BuiltImage {
  const work = mkdtempSync(join(tmpdir(), 'tscni-oci-'))
  try {
    const root = join(work, 'rootfs')
    for (const d of [...BASE_DIRS, ...(spec.dirs ?? [])]) mkdirSync(join(root, d), { recursive: true })
    for (const f of spec.files) {
      const dest = join(root, f.to)
      mkdirSync(dirname(dest), { recursive: true })
      copyFileSync(f.from, dest)
      chmodSync(dest, f.mode ?? statSync(f.from).mode & 0o7777)
    }
    for (const l of spec.links ?? []) {
      const dest = join(root, l.to)
      mkdirSync(dirname(dest), { recursive: true })
      symlinkSync(l.target, dest)
    }
    // A reproducible layer: sorted entries, root ownership, a fixed time; gzip -n leaves out name and time.
    const entries = readdirSync(root).sort()
    const layerTar = execFileSync('tar', ['-C', root, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=gnu', '-cf', '-', ...entries], { maxBuffer: 1 << 30 })
    const layerGz = execFileSync('gzip', ['-n', '-c'], { input: layerTar, maxBuffer: 1 << 30 })

    const layout = join(work, 'layout')
    const blobs = join(layout, 'blobs', 'sha256')
    mkdirSync(blobs, { recursive: true })
    const put = (data: Buffer): { digest: string; size: number } => {
      const hex = sha256(data)
      writeFileSync(join(blobs, hex), data)
      return { digest: `sha256:${hex}`, size: data.length }
    }
    const layer = put(layerGz)
    const config = put(Buffer.from(JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: goArch(),
      os: 'linux',
      config: {
        Env: spec.env ?? ['PATH=/bin:/sbin:/usr/bin'],
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        WorkingDir: '/',
        ...(spec.labels ? { Labels: spec.labels } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'tscni scripts/oci-image.ts' }],
    })))
    const manifest = put(Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    })))
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        platform: { architecture: goArch(), os: 'linux' },
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name },
      }],
    }))
    mkdirSync(dirname(outTar), { recursive: true })
    execFileSync('tar', ['-C', layout, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=gnu', '-cf', outTar, 'oci-layout', 'index.json', 'blobs'])
    return { name: spec.name, digest: manifest.digest }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The image platform's architecture in Go's spelling (GOARCH), as OCI configs use it. */
export function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }
  return map[process.arch] ?? process.arch
}

