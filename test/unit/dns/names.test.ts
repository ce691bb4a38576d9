// Which names an attachment publishes: RFC 1123 labels only, lower-cased, in answer order, nothing else written.
import { describe, expect, it } from 'vitest'
import { attachmentNames, bareNameTaken, isValidDomain, isValidLabel, showName } from '../../../src/dns/names.ts'

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
    expect(attachmentNames({ name: 'Web' }, ['api', 'WEB', 'api'], '0123456789abcdef')).toEqual({ names: ['web', 'api', '0123456789ab'], refused: [] })
  })

  it('refuses what is not one label, with where it came from', () => {
    const out = attachmentNames({ name: 'web_1' }, ['ok', 'evil\n10.0.0.1 bank', 'a b', 'x.y'], 'abc')
    expect(out.names).toEqual(['ok', 'abc'])
    expect(out.refused).toEqual([
      { name: 'web_1', source: 'K8S_POD_NAME' },
      { name: 'evil\n10.0.0.1 bank', source: 'alias' },
      { name: 'a b', source: 'alias' },
      { name: 'x.y', source: 'alias' },
    ])
  })

  it('a short id that is not a label (ids may hold _ and .) is refused too', () => {
    expect(attachmentNames({}, [], 'ab_cd.ef').names).toEqual([])
  })
})

describe('pods with a namespace (K8S_POD_NAMESPACE)', () => {
  it('publish <pod>.<namespace> first (PTR answers it), then the bare name, aliases and short id', () => {
    expect(attachmentNames({ name: 'DB', namespace: 'Team-A' }, ['x'], '0123456789abcdef')).toEqual({
      names: ['db.team-a', 'db', 'x', '0123456789ab'], refused: [], pod: { name: 'db', namespace: 'team-a' },
    })
  })

  it('without a namespace (podman) nothing changes: the bare pod name only, no pod to check', () => {
    expect(attachmentNames({ name: 'db' }, [], 'abc')).toEqual({ names: ['db', 'abc'], refused: [] })
    expect(attachmentNames({ name: 'db', namespace: '' }, [], 'abc')).toEqual({ names: ['db', 'abc'], refused: [] })
  })

  it('a namespace that is not a label is refused and the pod is named as without one; an invalid pod name stays refused', () => {
    expect(attachmentNames({ name: 'db', namespace: 'a.b' }, [], 'abc')).toEqual({ names: ['db', 'abc'], refused: [{ name: 'a.b', source: 'K8S_POD_NAMESPACE' }] })
    expect(attachmentNames({ name: 'db_1', namespace: 'a' }, [], 'abc')).toEqual({ names: ['abc'], refused: [{ name: 'db_1', source: 'K8S_POD_NAME' }] })
  })

  it('the bare name is taken when another file publishes it without <pod>.<namespace>; first come keeps it', () => {
    const nsA = '10.0.0.2 db.a.dns.tscni db.a db.dns.tscni db cid1.dns.tscni cid1\n'
    const podman = '10.0.0.3 db.dns.tscni db cid2.dns.tscni cid2\n'
    const other = '10.0.0.4 web.dns.tscni web\n'
    expect(bareNameTaken({ name: 'db', namespace: 'b' }, [other, nsA])).toBe(true)
    expect(bareNameTaken({ name: 'db', namespace: 'a' }, [nsA])).toBe(false)
    expect(bareNameTaken({ name: 'db', namespace: 'a' }, [podman])).toBe(true)
    expect(bareNameTaken({ name: 'db', namespace: 'b' }, [other, '10.0.0.5 db.b.dns.tscni db.b cid3.dns.tscni cid3\n'])).toBe(false)
    expect(bareNameTaken({ name: 'db', namespace: 'b' }, [])).toBe(false)
  })
})

describe('showName', () => {
  it('escapes control characters and cuts long names', () => {
    expect(showName('a\nb')).toBe('"a\\nb"')
    expect(showName('x'.repeat(200))).toHaveLength(81)
  })
})
