// The test images (pause and busybox), built offline by scripts/oci-image.ts (shared with the release packaging):
//
//   buildImageArchive({
//     name: 'localhost/tscni-test/pause:1',            // full reference the importer tags the image with
//     files: [{ from: '/usr/bin/catatonit', to: '/pause' }],  // copied into the layer, mode kept (or `mode`)
//     links: [{ to: '/bin/sh', target: 'busybox' }],    // optional symlinks inside the layer
//     entrypoint: ['/pause', '-P'], cmd: [],              // optional, as in an image config
//     env: ['PATH=/bin'],                                 // optional, defaults to a PATH of /bin:/sbin:/usr/bin
//     labels: { 'org.opencontainers.image.version': '1' },  // optional config labels
//   }, '/tmp/x/pause.tar')
//
// `pauseImage()` and `busyboxImage()` below build the two images the runtime tests use; the executables must be
// static (Debian's catatonit and busybox-static are), since the layer holds no libraries.
import { readFileSync } from 'node:fs'
import { buildImageArchive, type BuiltImage } from '../../scripts/oci-image.ts'

export { buildImageArchive, type BuiltImage, type ImageFile, type ImageSpec } from '../../scripts/oci-image.ts'

/** The sandbox ("pause") image: Debian's static catatonit as PID 1, in pause mode (-P: no child, waits for signals). */
export function pauseImage(outTar: string, name = 'localhost/tscni-test/pause:1'): BuiltImage {
  requireStatic('/usr/bin/catatonit', 'catatonit')
  return buildImageArchive({ name, files: [{ from: '/usr/bin/catatonit', to: '/pause' }], entrypoint: ['/pause', '-P'] }, outTar)
}

/**
 * A workload image: Debian's busybox-static as /bin/busybox with `sh` linked; run applets as
 * `['/bin/busybox', 'httpd', ...]`. Default command: `sleep 3600`. Note: busybox 1.35's `wget -T` crashes,
 * bound a fetch with `timeout N wget ...` instead.
 */
export function busyboxImage(outTar: string, name = 'localhost/tscni-test/busybox:1'): BuiltImage {
  requireStatic('/bin/busybox', 'busybox-static')
  return buildImageArchive({
    name,
    files: [{ from: '/bin/busybox', to: '/bin/busybox' }],
    links: [{ to: '/bin/sh', target: 'busybox' }],
    entrypoint: ['/bin/busybox'],
    cmd: ['sleep', '3600'],
  }, outTar)
}

/** A dynamically linked executable would not start in a layer without its libraries: refuse it loudly. */
function requireStatic(path: string, pkg: string): void {
  let head: Buffer
  try {
    head = readFileSync(path)
  } catch (cause) {
    throw new Error(`${path} is missing: install the Debian package ${pkg} (scripts/setup.sh does)`, { cause })
  }
  // An ELF with a PT_INTERP program header asks for a dynamic loader; a static one has none.
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF executable`)
  const phoff = Number(head.readBigUInt64LE(0x20))
  const phentsize = head.readUInt16LE(0x36)
  const phnum = head.readUInt16LE(0x38)
  for (let i = 0; i < phnum; i++) {
    if (head.readUInt32LE(phoff + i * phentsize) === 3) throw new Error(`${path} is dynamically linked; the test images need a static build (${pkg})`)
  }
}
