import { describe, expect, it } from 'vitest'
import { createDelegate } from '../../../src/plugin/delegate.ts'
import type { Context } from '../../../src/plugin/role.ts'
import type { Exec } from '../../../src/system/index.ts'
import { asyncErrorOf } from '../../support/errors.ts'

const exec: Exec = { run: async () => { throw new Error('nothing may be executed') } }
const ctx = { env: { path: ['/opt/cni/bin'] }, stdin: '{}', conf: { cniVersion: '1.0.0' } } as unknown as Context

describe('createDelegate', () => {
  it.each(['bridge', 'portmap', 'tscni-bridge', 'tscni-portmap', '', '../host-local'])('refuses ipam.type %j before running anything (a main plugin would delegate to itself)', async (type) => {
    const delegate = createDelegate({ exec, env: {}, inProcess: async () => undefined })
    expect((await asyncErrorOf(delegate.add(type, ctx))).code).toBe(7)
    expect((await asyncErrorOf(delegate.del(type, ctx))).code).toBe(7)
  })

  it('a type that is not on CNI_PATH is a config error naming it and the path', async () => {
    const delegate = createDelegate({ exec, env: {}, inProcess: async () => undefined })
    const err = await asyncErrorOf(delegate.add('no-such-ipam', ctx))
    expect(err).toMatchObject({ code: 7, message: 'failed to find plugin "no-such-ipam" in path [/opt/cni/bin]' })
  })
})
