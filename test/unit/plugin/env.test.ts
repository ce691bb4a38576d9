import { describe, expect, it } from 'vitest'
import { parseCniArgs, parseEnv, readVerb, validateIfname, type Verb } from '../../../src/plugin/env.ts'
import { errorOf } from '../../support/errors.ts'

const FULL = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' }

describe('readVerb', () => {
  it('returns undefined without CNI_COMMAND (the about text case)', () => {
    expect(readVerb({})).toBeUndefined()
    expect(readVerb({ CNI_COMMAND: '' })).toBeUndefined()
  })
  it('rejects an unknown command with code 4', () => {
    expect(errorOf(() => readVerb({ CNI_COMMAND: 'NOPE' }))).toMatchObject({ code: 4, message: 'unknown CNI_COMMAND: NOPE' })
  })
})

describe('parseEnv required variables per verb', () => {
  it.each<[Verb, string]>([
    ['ADD', 'CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH'],
    ['CHECK', 'CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH'],
    ['DEL', 'CNI_CONTAINERID,CNI_IFNAME,CNI_PATH'],
    ['GC', 'CNI_PATH'],
    ['STATUS', 'CNI_PATH'],
  ])('%s reports every missing variable at once', (verb, names) => {
    expect(errorOf(() => parseEnv(verb, {}))).toMatchObject({ code: 4, message: `required env variables [${names}] missing` })
  })

  it('VERSION needs nothing', () => {
    expect(parseEnv('VERSION', {}).verb).toBe('VERSION')
  })

  it('treats present-but-empty as missing (libcni sends empty values for GC)', () => {
    expect(errorOf(() => parseEnv('ADD', { ...FULL, CNI_NETNS: '' })).message).toBe('required env variables [CNI_NETNS] missing')
  })

  it('DEL accepts an empty CNI_NETNS', () => {
    expect(parseEnv('DEL', { ...FULL, CNI_NETNS: '' }).netns).toBe('')
  })

  it('GC ignores the empty container variables libcni exports', () => {
    const env = parseEnv('GC', { CNI_PATH: '/x', CNI_CONTAINERID: '', CNI_IFNAME: '' })
    expect(env).toMatchObject({ containerId: '', ifname: '', path: ['/x'] })
  })

  it('splits CNI_PATH and drops empty entries', () => {
    expect(parseEnv('ADD', { ...FULL, CNI_PATH: '/a::/b:' }).path).toEqual(['/a', '/b'])
  })

  it('reads CNI_NETNS_OVERRIDE as 1 or true, any case', () => {
    expect(parseEnv('ADD', { ...FULL, CNI_NETNS_OVERRIDE: 'TRUE' }).netnsOverride).toBe(true)
    expect(parseEnv('ADD', { ...FULL, CNI_NETNS_OVERRIDE: '0' }).netnsOverride).toBe(false)
  })
})

describe('container id validation', () => {
  it.each(['a', 'A-b_c.d', '0123abc', 'k8s_POD.1-2'])('accepts %s', (id) => {
    expect(parseEnv('ADD', { ...FULL, CNI_CONTAINERID: id }).containerId).toBe(id)
  })
  it.each(['../x', '-a', '.a', 'a/b', 'a b', 'a;b', '_a'])('rejects %s with code 4 and the id in details', (id) => {
    expect(errorOf(() => parseEnv('ADD', { ...FULL, CNI_CONTAINERID: id }))).toMatchObject({ code: 4, message: 'invalid characters in containerID', details: id })
  })
})

describe('interface name validation', () => {
  it.each([
    ['a'.repeat(16), 'interface name is too long'],
    ['.', 'interface name is . or ..'],
    ['..', 'interface name is . or ..'],
    ['eth/0', 'interface name contains / or : or whitespace characters'],
    ['eth:0', 'interface name contains / or : or whitespace characters'],
    ['eth 0', 'interface name contains / or : or whitespace characters'],
    ['eth\u00a00', 'interface name contains / or : or whitespace characters'],
    ['eth0#x', 'interface name contains #, a quote, a backslash or a control character'],
    ['"eth0', 'interface name contains #, a quote, a backslash or a control character'],
    ["eth'0", 'interface name contains #, a quote, a backslash or a control character'],
    ['eth0\\', 'interface name contains #, a quote, a backslash or a control character'],
    ['eth\u00070', 'interface name contains #, a quote, a backslash or a control character'],
  ])('rejects %j: %s', (name, msg) => {
    expect(errorOf(() => validateIfname(name))).toMatchObject({ code: 4, message: msg })
  })
  it('counts bytes, not characters (IFNAMSIZ)', () => {
    expect(errorOf(() => validateIfname('é'.repeat(8))).message).toBe('interface name is too long')
    expect(() => validateIfname('a'.repeat(15))).not.toThrow()
  })
  it('an empty name is reported as empty', () => {
    expect(errorOf(() => validateIfname('')).message).toBe('interface name is empty')
  })
})

describe('CNI_ARGS', () => {
  it('parses pairs in order and looks keys up case-sensitively', () => {
    const args = parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.1.2.3')
    expect(args.pairs).toEqual([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web'], ['IP', '10.1.2.3']])
    expect(args.get('IP')).toBe('10.1.2.3')
    expect(args.get('ip')).toBeUndefined()
  })
  it.each(['A', 'A=b=c', '=x=y'])('rejects the pair %j with code 4 naming it', (pair) => {
    expect(errorOf(() => parseCniArgs(pair))).toMatchObject({ code: 4, message: `CNI_ARGS: invalid pair "${pair}"` })
  })
  it('is empty for an empty string', () => {
    expect(parseCniArgs('').pairs).toEqual([])
  })
})
