// The README's main job runs in CI: the demo with both firewall backends, through the real executable.
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'

describe.each(['nftables', 'iptables'])('npm run demo (%s)', (backend) => {
  it('serves both pods through the balancer in turn, fails over, and leaves nothing behind', async () => {
    const res = await execa(process.execPath, ['demo/demo.ts'], { env: { DEMO_BACKEND: backend }, reject: false, timeout: 120_000 })
    expect(res.exitCode, res.stdout).toBe(0)
    const ids = [...res.stdout.matchAll(/request \d: My id is ([0-9a-f-]{36})/g)].map((m) => m[1])
    // Six balanced answers alternate between two ids, then four failover answers all come from the survivor.
    expect(new Set(ids.slice(0, 6)).size).toBe(2)
    expect(ids.slice(0, 6).every((id, i) => i === 0 || id !== ids[i - 1])).toBe(true)
    expect(new Set(ids.slice(6)).size).toBe(1)
    expect(res.stdout).toContain('hairpin: pod-a -> its own host port')
    // Names: pod to pod by name through the network's DNS, a shared alias, the balancer's upstreams are names.
    expect(res.stdout).toMatch(/pod-a -> pod-b by name \(http:\/\/pod-b:8080\) +"My id is [0-9a-f-]{36}"/)
    expect(res.stdout).toMatch(/web +-> 10\.47\.0\.\d+, 10\.47\.0\.\d+ +\(an alias both pods share\)/)
    expect(res.stdout).toContain('round-robin over upstreams pod-a:8080, pod-b:8080 (names)')
    expect(res.stdout).toContain('pod-b no longer resolves')
    expect(res.stdout).toContain('nothing left: no veth, no reservation, no firewall rule of the pods, no DNS server, no namespace, no temp files')
    const { stdout } = await execa('ip', ['netns', 'list'])
    expect(stdout).not.toMatch(/tscni-demo-/)
  })
})
