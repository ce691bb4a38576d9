// Which names an attachment publishes: RFC 1123 labels only, lower-cased, in answer order, nothing else written.
import { describe, expect, it } from 'vitest'
import { attachmentNames, isValidDomain, isValidLabel, showName } from '../../../src/dns/names.ts'

describe('isValidLabel', () => {
  it.each(['a', 'web', 'web-1', '0abc', 'a'.repeat(63), '1'])('accepts %s', (name) => expect(isValidLabel(name)).toBe(true))
  it.each(['', '-a', 'a-', 'a_b', 'a.b', 'A', 'a b', 'a\nb', 'a'.repeat(64), 'é', 'a\u0000'])('refuses %j', (name) => expect(isValidLabel(name)).toBe(false))
})

describe('isValidDomain', () => {
  it.each(['dns.tscni', 'dns.podman.', 'a', `${'a'.repeat(63)}.b`])('accepts %s', (d) => expect(isValidDomain(d)).toBe(true))
  it.each(['', '.', 'a..b', 'bad domain', '-a.b', `${'a.'.repeat(127)}ab`])('refuses %j', (d) => expect(isValidDomain(d)).toBe(false))
})

describe('attachmentNames', () => {
  it('pod name, aliases, then the short id, lower-cased and without duplicates', () => {
    expect(attachmentNames('Web', ['api', 'WEB', 'api'], '0123456789abcdef')).toEqual({ names: ['web', 'api', '0123456789ab'], refused: [] })
  })

  it('refuses what is not one label, with where it came from', () => {
    const out = attachmentNames('web_1', ['ok', 'evil\n10.0.0.1 bank', 'a b', 'x.y'], 'abc')
    expect(out.names).toEqual(['ok', 'abc'])
    expect(out.refused).toEqual([
      { name: 'web_1', source: 'K8S_POD_NAME' },
      { name: 'evil\n10.0.0.1 bank', source: 'alias' },
      { name: 'a b', source: 'alias' },
      { name: 'x.y', source: 'alias' },
    ])
  })

  it('a short id that is not a label (ids may hold _ and .) is refused too', () => {
    expect(attachmentNames(undefined, [], 'ab_cd.ef').names).toEqual([])
  })
})

describe('showName', () => {
  it('escapes control characters and cuts long names', () => {
    expect(showName('a\nb')).toBe('"a\\nb"')
    expect(showName('x'.repeat(200))).toHaveLength(81)
  })
})
