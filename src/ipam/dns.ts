// resolv.conf into the result's DNS block (the reference's plugins/ipam/host-local/dns.go): a pure parser plus the one file read it needs.
import { readFileSync } from 'node:fs'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { ResultDns } from '../plugin/result.ts'

/**
 * Parses resolv.conf text as the reference does: `nameserver` appends, `domain` sets, `search` and `options`
 * append every field after the keyword (several `search` lines accumulate, unlike glibc); comments (`#`, `;`),
 * blank lines and lines with fewer than two fields are skipped.
 */
export function parseResolvConf(text: string): ResultDns {
  const dns: ResultDns = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const fields = line.split(/\s+/)
    if (fields.length < 2) continue
    const [keyword, ...values] = fields as [string, ...string[]]
    switch (keyword) {
      case 'nameserver':
        ;(dns.nameservers ??= []).push(values[0]!)
        break
      case 'domain':
        dns.domain = values[0]!
        break
      case 'search':
        ;(dns.search ??= []).push(...values)
        break
      case 'options':
        ;(dns.options ??= []).push(...values)
        break
      default:
        break // other keywords (sortlist, lookup, ...) have no place in a CNI result
    }
  }
  return dns
}

/** Reads and parses `ipam.resolvConf`; an unreadable file fails ADD (code 7 naming the path), as in the reference. */
export function readResolvConf(path: string): ResultDns {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CniError(ErrorCode.InvalidConfig, `invalid ipam.resolvConf: cannot read ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err })
  }
  return parseResolvConf(text)
}
