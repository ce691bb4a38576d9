// `tscni reconcile --watch --health-addr`: /healthz answers while the loop runs, /readyz once a pass succeeded;
// without --watch the option is a usage error; nothing listens without it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { expect, it } from 'vitest'
import { waitUntil } from '../support/cluster.ts'
import { binDir } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()

it('serves /healthz and /readyz on the given address; ready after a successful pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-reconcile-health-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const tscni = join(binDir(), 'tscni')
  const bad = await execa(tscni, ['reconcile', '--health-addr', '127.0.0.1:9098', '--state-dir', dir, '--cache-dir', dir], { reject: false })
  expect(bad.exitCode).toBe(2)
  expect(bad.stderr).toMatch(/--health-addr is for --watch/)
  const badAddr = await execa(tscni, ['reconcile', '--watch', '--health-addr', 'localhost:9098'], { reject: false })
  expect(badAddr.exitCode).toBe(2)
  expect(badAddr.stderr).toMatch(/IP:PORT/)

  const watch = execa('ip', ['netns', 'exec', node.host.name, tscni, 'reconcile', '--watch', '--interval', '1', '--health-addr', '127.0.0.1:9098', '--state-dir', dir, '--cache-dir', dir], { reject: false, all: true })
  node.defer(() => void watch.kill('SIGKILL'))
  const get = async (path: string) => {
    const r = await node.host.exec('curl', ['-s', '--max-time', '2', '-w', '\n%{http_code}', `http://127.0.0.1:9098${path}`], { reject: false })
    const lines = String(r.stdout).split('\n')
    const code = Number(lines.pop())
    return { code, body: code ? JSON.parse(lines.join('\n')) : undefined }
  }
  const ready = await waitUntil('/readyz to answer 200', 20_000, async () => {
    const r = await get('/readyz')
    return r.code === 200 ? r.body : undefined
  })
  expect(ready).toMatchObject({ status: 'ready', summary: expect.stringMatching(/^0 live attachment record\(s\)/) })
  expect(await get('/healthz')).toMatchObject({ code: 200, body: { status: 'alive', lastPass: expect.any(String) } })
  expect((await get('/nope')).code).toBe(404)
  // Only inside the node's namespace: the machine's own loopback has nothing on that port from this test.
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${watch.pid}/status`, 'utf8'))?.[1] ?? 0)
  console.log(`reconcile --watch at rest: RSS ${(rss / 1024).toFixed(1)} MiB`)
  watch.kill('SIGTERM')
  await watch
})
