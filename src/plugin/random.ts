// Random bytes from the kernel's /dev/urandom (random(4)): what node:crypto's randomBytes returns, without loading
// node:crypto, which costs every call 3-5 ms of start-up on Node 24 (see ids.ts).
import { closeSync, openSync, readSync } from 'node:fs'

/** `n` bytes from /dev/urandom. */
export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n)
  const fd = openSync('/dev/urandom', 'r')
  try {
    let got = 0
    while (got < n) {
      const r = readSync(fd, out, got, n - got, null)
      if (r === 0) throw new Error('/dev/urandom returned no bytes')
      got += r
    }
  } finally {
    closeSync(fd)
  }
  return out
}
