import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { decodeNetConf, parseConfigPart } from '../../../src/plugin/config.ts'
import { errorOf } from '../../support/errors.ts'
import type { Verb } from '../../../src/plugin/env.ts'

const conf = (o: Record<string, unknown>) => JSON.stringify({ name: 'net', type: 'bridge', ...o })

describe('decodeNetConf', () => {
  it('returns the base fields and the raw object', () => {
    const c = decodeNetConf(conf({ cniVersion: '1.0.0', bridge: 'cni0' }), 'ADD')
    expect(c).toMatchObject({ cniVersion: '1.0.0', name: 'net', type: 'bridge' })
    expect(c.raw.bridge).toBe('cni0')
  })

  it.each(['{', '', 'null', '[1]', '"x"', '42'])('rejects %j with code 6', (stdin) => {
    expect(errorOf(() => decodeNetConf(stdin, 'ADD')).code).toBe(6)
  })

  it('reads a missing cniVersion as 0.1.0', () => {
    expect(decodeNetConf(conf({}), 'ADD').cniVersion).toBe('0.1.0')
  })

  it('rejects a version string that is not MAJOR.MINOR.PATCH with code 6', () => {
    expect(errorOf(() => decodeNetConf(conf({ cniVersion: 'one' }), 'ADD'))).toMatchObject({ code: 6 })
    expect(errorOf(() => decodeNetConf(conf({ cniVersion: 1 }), 'ADD'))).toMatchObject({ code: 6 })
  })

  it('rejects an unknown version with code 1 listing the supported ones', () => {
    const err = errorOf(() => decodeNetConf(conf({ cniVersion: '0.5.0' }), 'ADD'))
    expect(err).toMatchObject({ code: 1, message: 'incompatible CNI versions' })
    expect(err.details).toBe('config is "0.5.0", plugin supports ["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]')
  })

  it.each<[Verb, string, string]>([
    ['CHECK', '0.3.1', 'config version does not allow CHECK'],
    ['GC', '1.0.0', 'config version does not allow GC'],
    ['STATUS', '0.4.0', 'config version does not allow STATUS'],
  ])('%s with %s is refused: %s', (verb, version, msg) => {
    expect(errorOf(() => decodeNetConf(conf({ cniVersion: version }), verb))).toMatchObject({ code: 1, message: msg })
  })

  it.each<[Verb, string]>([['CHECK', '0.4.0'], ['GC', '1.1.0'], ['STATUS', '1.1.0'], ['ADD', '0.1.0'], ['DEL', '0.2.0']])('%s with %s is accepted', (verb, version) => {
    expect(decodeNetConf(conf({ cniVersion: version }), verb).cniVersion).toBe(version)
  })

  it('reports a supported version before the gate so the error JSON can carry it', () => {
    let seen = ''
    errorOf(() => decodeNetConf(conf({ cniVersion: '1.0.0' }), 'GC', (v) => (seen = v)))
    expect(seen).toBe('1.0.0')
  })

  it('requires a network name (code 7)', () => {
    expect(errorOf(() => decodeNetConf(JSON.stringify({ cniVersion: '1.0.0' }), 'ADD'))).toMatchObject({ code: 7, message: 'missing network name' })
  })

  it.each(['a/b', '../x', '-x', 'a b'])('rejects the network name %j (it becomes a directory name)', (name) => {
    const err = errorOf(() => decodeNetConf(JSON.stringify({ cniVersion: '1.0.0', name }), 'ADD'))
    expect(err.code).toBe(7)
    expect(err.message).toContain(JSON.stringify(name))
  })
})

describe('parseConfigPart', () => {
  const schema = z.object({ mtu: z.optional(z.number().check(z.int(), z.minimum(0))), nested: z.optional(z.object({ port: z.number() })) })

  it('returns the parsed value', () => {
    expect(parseConfigPart(schema, { mtu: 1500 }, '')).toEqual({ mtu: 1500 })
  })

  it('names the field path and shows the bad value (code 7)', () => {
    const err = errorOf(() => parseConfigPart(schema, { nested: { port: 'x' } }, 'ipam'))
    expect(err.code).toBe(7)
    expect(err.message).toMatch(/^invalid ipam\.nested\.port: .* \(got "x"\)$/)
  })

  it('says "missing" for a required field that is absent', () => {
    expect(errorOf(() => parseConfigPart(schema, { nested: {} }, '')).message).toMatch(/^invalid nested\.port: .*\(missing\)$/)
  })
})
