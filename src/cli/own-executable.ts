// Whether a file is a tscni executable, read at fixed places only: the bundle's second line, or the main script at
// the start of a single executable's NODE_SEA_BLOB note. Never a search through the file, and nothing is run.
import { constants, promises as fs } from 'node:fs'

/** The line every tscni build carries at its fixed place (build.mjs's banner; scripts/sea-loader.cjs line 2). */
export const MARKER_LINE = '// tscni-multicall-executable-marker-v1\n'
// The same places in tscni 0.1.0, which had no marker line there: its bundle's banner and its loader's first
// comment, so installing over 0.1.0 needs no --force.
const BUNDLE_HEADS = [`#!/usr/bin/env node\n${MARKER_LINE}`, "#!/usr/bin/env node\nimport{createRequire as __tscniRequire}from'node:module';const require=__tscniRequire(import.meta.url);\n"]
const LOADER_HEADS = [`'use strict'\n${MARKER_LINE}`, "'use strict'\n// The single executable's main script: runs the embedded bundle (asset main.cjs) through vm.Script with the\n"]

// ELF64 little-endian (x86-64, arm64): the only kind Node's single executables are built as on Linux here.
const ELF_MAGIC = 0x464c457f
const PT_NOTE = 4
// postject puts the blob into a note named so; Node's blob starts with this magic (src/node_sea.h, kMagic).
const SEA_NOTE = 'NODE_SEA_BLOB'
const SEA_MAGIC = 0x0143da20
// Enough of the blob for its header, the code path and the start of the main script.
const BLOB_HEAD_BYTES = 4096

/**
 * True when `path` is a tscni build: a bundle whose first two lines are the shebang and the marker, or an ELF file
 * with a NODE_SEA_BLOB note whose main script starts with 'use strict' and the marker. A shell script or any other
 * file that merely mentions the marker is not.
 */
export async function isOwnExecutable(path: string): Promise<boolean> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch {
    return false
  }
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length)
      const { bytesRead } = await handle.read(buf, 0, length, offset)
      return buf.subarray(0, bytesRead)
    }
    const head = await read(0, 256)
    if (startsWithOneOf(head, BUNDLE_HEADS)) return true
    if (head.length < 64 || head.readUInt32LE(0) !== ELF_MAGIC || head[4] !== 2 || head[5] !== 1) return false
    const phoff = Number(head.readBigUInt64LE(32))
    const phentsize = head.readUInt16LE(54)
    const phnum = head.readUInt16LE(56)
    if (phentsize < 56 || phnum === 0) return false
    const table = await read(phoff, phentsize * phnum)
    for (let i = 0; i + phentsize <= table.length; i += phentsize) {
      if (table.readUInt32LE(i) !== PT_NOTE) continue
      const blob = await seaBlobIn(read, Number(table.readBigUInt64LE(i + 8)), Number(table.readBigUInt64LE(i + 32)))
      if (blob !== undefined) return blob
    }
    return false
  } finally {
    await handle.close()
  }
}

// Walks the notes of one PT_NOTE segment (ELF gABI: namesz, descsz, type, name and desc each padded to 4 bytes);
// undefined when it holds no SEA note, else whether the blob's main script starts with the marker.
async function seaBlobIn(read: (offset: number, length: number) => Promise<Buffer>, offset: number, size: number): Promise<boolean | undefined> {
  const pad = (n: number) => (n + 3) & ~3
  for (let at = offset; at + 12 <= offset + size;) {
    const header = await read(at, 12 + pad(SEA_NOTE.length + 1))
    if (header.length < 12) return undefined
    const namesz = header.readUInt32LE(0)
    const descsz = header.readUInt32LE(4)
    const desc = at + 12 + pad(namesz)
    if (namesz === SEA_NOTE.length + 1 && header.subarray(12, 12 + namesz).toString('latin1') === `${SEA_NOTE}\u0000`) {
      return mainScriptIsOurs(await read(desc, Math.min(descsz, BLOB_HEAD_BYTES)))
    }
    at = desc + pad(descsz)
  }
  return undefined
}

// The blob (Node's SeaSerializer): u32 magic, u32 flags, a few header bytes that vary between Node versions (24.x
// added one for execArgvExtension), then the code path and the main script, each as a u64 length and its bytes.
// The code path is build.mjs's own `main`, so it is what anchors the place: right after it, the main script must
// start with 'use strict' and the marker line.
const CODE_PATH = 'scripts/sea-loader.cjs'
const HEADER_SLACK = 64

function mainScriptIsOurs(blob: Buffer): boolean {
  if (blob.length < 16 || blob.readUInt32LE(0) !== SEA_MAGIC) return false
  const path = Buffer.alloc(8 + CODE_PATH.length)
  path.writeBigUInt64LE(BigInt(CODE_PATH.length), 0)
  path.write(CODE_PATH, 8, 'latin1')
  const at = blob.subarray(0, HEADER_SLACK + path.length).indexOf(path, 8)
  if (at < 0) return false
  const codeAt = at + path.length + 8
  return startsWithOneOf(blob.subarray(codeAt), LOADER_HEADS)
}

function startsWithOneOf(buf: Buffer, heads: readonly string[]): boolean {
  return heads.some((h) => buf.subarray(0, Buffer.byteLength(h)).toString('utf8') === h)
}
