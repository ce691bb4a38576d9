// podman 4.3 with its CNI backend and a conflist chaining `dnsname` (tscni's, under the standard name) after the
// bridge, as podman's own dnsname networks do: containers reach each other by container name and by network alias
// through the network's dnsmasq; podman rm -f of the last container stops the server and leaves no DNS files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { ConfList } from '../support/cni-runtime.ts'
import { killServersUnder, makeDnsDir, serversUnder } from '../support/dns.ts'
import { busyboxImage } from '../support/oci-image.ts'
import { startPodman, type PrivatePodman } from '../support/podman.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let podman: PrivatePodman | undefined
let image: string
let dnsDir: string
afterEach(async () => {
  await podman?.cleanup()
  podman = undefined
}, 120_000)
beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-podman-image-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const dns = makeDnsDir()
  dnsDir = dns.dir
  node.defer(dns.cleanup, () => killServersUnder(dns.dir))
  writeFileSync(join(dnsDir, 'resolv.conf'), '# no upstream: the test resolves only names on its own network\n')
  image = busyboxImage(join(dir, 'busybox.tar')).name
  podman = await startPodman({ host: node.host, binDir: node.bin, conflists: [network(node.dataDir)] })
  await podman.load(join(dir, 'busybox.tar'))
}, 120_000)

const NETWORK = 'tscni-dns'

// podman 4.3's libcni parses results up to spec 1.0.0; a plugin of type "dnsname" makes podman treat the network
// as DNS-enabled (the gateway goes into the containers' resolv.conf, aliases are passed as runtimeConfig.aliases).
function network(dataDir: string): ConfList {
  return {
    cniVersion: '1.0.0',
    name: NETWORK,
    plugins: [
      { type: 'bridge', bridge: 'cni-dns0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.89.9.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
      { type: 'dnsname', domainName: 'dns.podman', dataDir: dnsDir, resolvConf: join(dnsDir, 'resolv.conf'), capabilities: { aliases: true } },
    ],
  }
}

function started(): PrivatePodman {
  if (!podman) throw new Error('podman is started before each test')
  return podman
}

/** A fetch with busybox wget from a throwaway container on the network, retried while the server starts. */
async function fetchFromContainer(url: string, tries = 10): Promise<string> {
  const p = started()
  for (let i = 0; i < tries; i++) {
    const r = await p.podman(['run', '--rm', '--network', NETWORK, '--cgroup-parent', p.cgroupParent, image, 'timeout', '5', 'wget', '-q', '-O', '-', url], { reject: false })
    const out = String(r.stdout).trim()
    if (out) return out
    await new Promise((res) => setTimeout(res, 300))
  }
  return ''
}

it('containers reach each other by container name and alias; podman rm -f of the last one stops the DNS server', async () => {
  const p = started()
  const run = await p.podman([
    'run', '-d', '--name', 'web', '--network', NETWORK, '--network-alias', 'frontend', '--cgroup-parent', p.cgroupParent, image,
    'sh', '-c', 'mkdir /www && echo "served-by-$(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www',
  ])
  const id = String(run.stdout).trim()
  const want = `served-by-${id.slice(0, 12)}`
  const resolv = String((await p.podman(['exec', 'web', 'sh', '-c', 'while read -r l; do echo "$l"; done < /etc/resolv.conf'])).stdout)
  expect(resolv).toMatch(/^nameserver 10\.89\.9\.1$/m)
  expect(resolv).toMatch(/^search .*dns\.podman/m)

  expect(await fetchFromContainer('http://web/')).toBe(want)
  expect(await fetchFromContainer('http://web.dns.podman/')).toBe(want)
  expect(await fetchFromContainer('http://frontend/')).toBe(want)
  expect(await fetchFromContainer(`http://${id.slice(0, 12)}/`)).toBe(want)
  expect(serversUnder(dnsDir)).toHaveLength(1)

  await p.podman(['rm', '-f', '-t', '0', 'web'])
  expect(serversUnder(dnsDir)).toEqual([])
  expect(p.cachedResults()).toEqual([])
}, 240_000)
