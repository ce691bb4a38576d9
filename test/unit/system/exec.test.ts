// The command runner's timeout: a missing tool must not keep the process alive, a slow one is killed.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { createExec } from '../../../src/system/exec.ts'
import { SystemError } from '../../../src/system/errors.ts'

const EXEC = new URL('../../../src/system/exec.ts', import.meta.url).pathname

describe('createExec', () => {
  it('a missing tool fails at once and leaves no timer keeping the process alive (nodejs/node#65504)', () => {
    // In a separate Node process: the whole process must end long before the 20 s timeout.
    const script = `import { createExec } from '${EXEC}'
const started = performance.now()
process.on('exit', () => console.log(Math.round(performance.now() - started)))
await createExec('/nonexistent').run('tscni-no-such-tool', [], { timeoutMs: 20000 }).catch((e) => console.log(e.message))`
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 }).trim().split('\n')
    expect(out[0]).toMatch(/cannot run tscni-no-such-tool: spawn tscni-no-such-tool ENOENT/)
    expect(Number(out[1])).toBeLessThan(5_000)
  })

  it('kills a command that outlives its timeout and says so', async () => {
    const exec = createExec('/usr/bin:/bin')
    const started = performance.now()
    const err = await exec.run('sleep', ['10'], { timeoutMs: 200 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SystemError)
    expect((err as SystemError).timedOut).toBe(true)
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('still returns output and exit status', async () => {
    const res = await createExec('/usr/bin:/bin').run('sh', ['-c', 'echo out; echo err >&2; exit 3'], { allowFailure: true })
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 })
  })
})
