// resolv.conf parsing (as the reference's host-local dns.go) and the file read that fails ADD.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseResolvConf, readResolvConf } from '../../../src/ipam/dns.ts'

describe('parseResolvConf', () => {
  it('a simple file', () => {
    expect(parseResolvConf('nameserver 10.1.2.123\n')).toEqual({ nameservers: ['10.1.2.123'] })
  })

  it('skips comments, blank lines and lines with one field', () => {
    const text = '# a comment\n; another\n\n   \nnameserver\nnameserver 10.1.2.123 # trailing\n  nameserver   10.1.2.124  \n'
    expect(parseResolvConf(text)).toEqual({ nameservers: ['10.1.2.123', '10.1.2.124'] })
  })

  it('all fields; several search lines accumulate; the last domain wins; unknown keywords ignored', () => {
    const text = [
      'nameserver 10.1.2.123',
      'nameserver 2001:db8::53',
      'domain example.com',
      'domain example.org',
      'search a.example.com b.example.com',
      'search c.example.com',
      'options ndots:5 timeout:2',
      'options attempts:3',
      'sortlist 130.155.160.0/255.255.240.0',
    ].join('\n')
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.1.2.123', '2001:db8::53'],
      domain: 'example.org',
      search: ['a.example.com', 'b.example.com', 'c.example.com'],
      options: ['ndots:5', 'timeout:2', 'attempts:3'],
    })
  })

  it('an empty file gives an empty block', () => {
    expect(parseResolvConf('')).toEqual({})
  })
})

describe('readResolvConf', () => {
  it('reads the file, and a missing file is a code-7 error naming the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tscni-dns-'))
    try {
      const file = join(dir, 'resolv.conf')
      writeFileSync(file, 'nameserver 192.0.2.53\nsearch example.com\n')
      expect(readResolvConf(file)).toEqual({ nameservers: ['192.0.2.53'], search: ['example.com'] })
      const missing = join(dir, 'nope.conf')
      expect(() => readResolvConf(missing)).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining(missing) }))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
