// The tscni demo: two "pods" on a bridge network with published ports, names answered by the network's DNS server
// (dnsname), and a round-robin load balancer in a namespace of its own whose upstreams are pod names, built with the
// real executable inside a throwaway host namespace, then torn down with proof that nothing is left.
// Run with `npm run demo` (root). Traffic stays between the namespaces this script creates.
import { execa, type ResultPromise } from 'execa'
import { randomUUID } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { firewallText } from '../test/support/bridge.ts'
import { CniRuntime, loadConfList, type Attachment } from '../test/support/cni-runtime.ts'
import { serversUnder } from '../test/support/dns.ts'
import { NetnsPool, type TestNetns } from '../test/support/netns.ts'
import { renderTable as table } from '../src/cli/table.ts'
import { nginxConfig } from './nginx.ts'
import { detail, step, StepFailed } from './steps.ts'

const BACKEND = process.env.DEMO_BACKEND === 'iptables' ? 'iptables' : 'nftables'
const CONF_FILE = resolve(`conf/bridge-host-local-portmap-${BACKEND}.conflist`)
const POD_PORT = 8080
const LB_PORT = 8000
const NODE = process.execPath
const DOMAIN = 'dns.tscni'

interface Pod {
  readonly name: string
  readonly id: string
  readonly ns: TestNetns
  readonly hostPort: number
  readonly att: Attachment
  server?: ResultPromise
  ipv4?: string
}

async function main(): Promise<0 | 1> {
  const pool = new NetnsPool()
  const work = mkdtempSync(join(tmpdir(), 'tscni-demo-'))
  const binDir = join(work, 'bin')
  const dataDir = join(work, 'ipam')
  const dnsDir = join(work, 'dns')
  const pods: Pod[] = []
  let balancer: Pod | undefined
  // `ip netns exec NS` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf: how a namespace gets its resolver.
  const resolvDirs: string[] = []
  const hadNetnsEtc = existsSync('/etc/netns')
  let nginx: ResultPromise | undefined
  let host: TestNetns | undefined
  let runtime: CniRuntime | undefined
  let failed = false
  try {
    await step('prepare: executable, role links, data dir', async () => {
      if (process.getuid?.() !== 0) throw new Error('the demo needs root: it creates network namespaces, a bridge and firewall rules')
      await execa('mkdir', ['-p', binDir, dataDir, dnsDir])
      // The DNS server reads its files as an unprivileged user: the directories on the way must be searchable.
      chmodSync(work, 0o755)
      // No upstream resolvers: the demo's names are all on its own network, and nothing leaves the namespaces.
      writeFileSync(join(work, 'resolv.conf'), '# the demo forwards nothing\n')
      copyFileSync(resolve('dist/tscni'), join(binDir, 'tscni'))
      for (const name of ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-dnsname', 'bridge', 'host-local', 'portmap', 'dnsname']) symlinkSync('tscni', join(binDir, name))
      detail(`executable ${binDir}/tscni, IPAM data in ${dataDir}, DNS data in ${dnsDir}, firewall backend ${BACKEND}`)
    })

    host = await step('create a throwaway host namespace (the machine\'s own network is never touched)', async () => {
      const ns = await pool.create('tscni-demo-host')
      detail(`host namespace ${ns.name}`)
      return ns
    })
    const hostNs = host

    runtime = await step(`load the network ${CONF_FILE.replace(`${process.cwd()}/`, '')}`, async () => {
      const conf = loadConfList(CONF_FILE)
      for (const plugin of conf.plugins) {
        const ipam = plugin.ipam as Record<string, unknown> | undefined
        if (ipam) ipam.dataDir = dataDir
      }
      // Names on the network: dnsname chained last, as podman's dnsname is.
      conf.plugins.push({ type: 'dnsname', domainName: DOMAIN, dataDir: dnsDir, resolvConf: join(work, 'resolv.conf'), backend: BACKEND, capabilities: { aliases: true } })
      detail(`network "${conf.name}", plugins: ${conf.plugins.map((p) => p.type).join(' -> ')}`)
      return new CniRuntime(conf, { binDir, hostNetns: hostNs.name, env: { TSCNI_STATE_DIR: join(work, 'state') } })
    })
    const cni = runtime

    for (const [i, name] of ['pod-a', 'pod-b'].entries()) {
      const pod = await step(`start ${name}: namespace, CNI ADD (bridge + host-local + portmap + dnsname), HTTP service`, async () => {
        const ns = await pool.create(`tscni-demo-${name}`)
        const hostPort = 8081 + i
        const p: Pod = {
          name, id: randomUUID(), ns, hostPort,
          att: { containerId: `demo-${name}`, netns: ns.path, ifname: 'eth0', cniArgs: [['K8S_POD_NAME', name]], capabilityArgs: { portMappings: [{ hostPort, containerPort: POD_PORT, protocol: 'tcp' }], aliases: { tscni: ['web'] } } },
        }
        const result = await cni.add(p.att)
        resolvDirs.push(writeResolvConf(ns, result))
        p.ipv4 = (result.ips as Array<{ address: string }>).map((ip) => ip.address.split('/')[0]!).find((a) => a.includes('.'))
        p.server = execa('ip', ['netns', 'exec', ns.name, NODE, resolve('demo/pod-server.mjs'), String(POD_PORT), p.id], { reject: false })
        await waitFor(async () => (await ns.exec('curl', ['-s', '--max-time', '1', `http://127.0.0.1:${POD_PORT}/`], { reject: false })).exitCode === 0, `${name}'s HTTP service`)
        detail(`${name}: container id ${p.att.containerId}, instance id ${p.id}`)
        return p
      })
      pods.push(pod)
    }

    await step('show the pods as the network sees them', async () => {
      const rows: string[][] = []
      for (const pod of pods) {
        const links = await pod.ns.ipJson<Array<{ ifname: string; address: string }>>(['link', 'show', 'eth0'])
        const addrs = await pod.ns.ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>>(['addr', 'show', 'eth0'])
        const routes = await pod.ns.ipJson<Array<{ dst: string; gateway?: string }>>(['route', 'show'])
        rows.push([
          pod.name,
          'eth0',
          addrs[0]!.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).join(' '),
          links[0]!.address,
          routes.map((r) => (r.gateway ? `${r.dst} via ${r.gateway}` : r.dst)).join(', '),
          `${pod.hostPort} -> ${POD_PORT}/tcp`,
        ])
      }
      detail(table(['pod', 'if', 'addresses', 'mac', 'routes', 'host port'], rows))
    })

    const [a, b] = pods as [Pod, Pod]
    const gateway = await hostAddress(hostNs)
    await step(`resolve names from ${a.name} through the network's DNS server (${gateway}, domain ${DOMAIN})`, async () => {
      for (const name of [b.name, `${b.name}.${DOMAIN}`, 'web']) {
        const res = await a.ns.exec('getent', ['ahostsv4', name], { reject: false })
        const addrs = [...new Set(String(res.stdout).split('\n').map((l) => l.split(/\s+/)[0]).filter((x) => x))].sort()
        const want = name === 'web' ? [a.ipv4!, b.ipv4!].sort() : [b.ipv4!]
        if (addrs.join(' ') !== want.join(' ')) throw new Error(`${name}: expected ${want.join(' ')}, got "${addrs.join(' ')}"`)
        detail(`${name.padEnd(20)} -> ${addrs.join(', ')}${name === 'web' ? '  (an alias both pods share)' : ''}`)
      }
    })

    await step('prove the network: pod to pod by name, host to pod, host port to pod (host address, 127.0.0.1, hairpin)', async () => {
      const checks: Array<[string, TestNetns, string, Pod]> = [
        [`${a.name} -> ${b.name} by name (http://${b.name}:${POD_PORT})`, a.ns, `http://${b.name}:${POD_PORT}/`, b],
        [`host -> ${a.name} (${a.ipv4}:${POD_PORT})`, hostNs, `http://${a.ipv4}:${POD_PORT}/`, a],
        [`host port ${gateway}:${b.hostPort} -> ${b.name}`, hostNs, `http://${gateway}:${b.hostPort}/`, b],
        [`host port 127.0.0.1:${a.hostPort} -> ${a.name}`, hostNs, `http://127.0.0.1:${a.hostPort}/`, a],
        [`hairpin: ${a.name} -> its own host port ${gateway}:${a.hostPort}`, a.ns, `http://${gateway}:${a.hostPort}/`, a],
      ]
      for (const [label, from, url, expected] of checks) {
        const body = await curl(from, url)
        if (body !== `My id is ${expected.id}`) throw new Error(`${label}: expected "My id is ${expected.id}", got "${body}"`)
        detail(`${label.padEnd(58)} "${body}"`)
      }
    })

    const lb = await step('start the balancer\'s namespace on the network (CNI ADD) with the network\'s DNS in its resolv.conf', async () => {
      const ns = await pool.create('tscni-demo-lb')
      const p: Pod = { name: 'balancer', id: '', ns, hostPort: 0, att: { containerId: 'demo-balancer', netns: ns.path, ifname: 'eth0', cniArgs: [['K8S_POD_NAME', 'balancer']] } }
      const result = await cni.add(p.att)
      resolvDirs.push(writeResolvConf(ns, result))
      p.ipv4 = (result.ips as Array<{ address: string }>).map((ip) => ip.address.split('/')[0]!).find((x) => x.includes('.'))
      // nginx resolves an upstream name once, to all its addresses (AI_ADDRCONFIG): with IPv6 on, each pod would be
      // two upstream servers and the round-robin would visit every pod twice in a row. The balancer speaks IPv4.
      await ns.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.eth0.disable_ipv6=1'])
      detail(`balancer: ${p.ipv4}, resolv.conf: ${(result.dns?.nameservers ?? []).join(', ')} search ${(result.dns?.search ?? []).join(' ')}`)
      return p
    })
    balancer = lb
    const lbUrl = `http://${lb.ipv4}:${LB_PORT}/`

    nginx = (await step(`start nginx in the balancer's namespace: round-robin over upstreams ${pods.map((p) => `${p.name}:${POD_PORT}`).join(', ')} (names)`, async () => {
      const conf = join(work, 'nginx.conf')
      writeFileSync(conf, nginxConfig(work, pods.map((p) => `${p.name}:${POD_PORT}`), String(LB_PORT)))
      const proc = execa('ip', ['netns', 'exec', lb.ns.name, 'nginx', '-c', conf, '-p', work], { reject: false })
      await waitFor(async () => (await hostNs.exec('curl', ['-s', '--max-time', '1', lbUrl], { reject: false })).exitCode === 0, 'nginx')
      // Wrapped: an async function returning the subprocess itself would wait for nginx to exit.
      return { proc }
    })).proc

    await step('ask the balancer six times: the answers alternate between the two pods', async () => {
      const answers = await askBalancer(hostNs, lbUrl, 6)
      answers.forEach((ans, i) => detail(`request ${i + 1}: ${ans}`))
      const ids = answers.map((ans) => ans.replace('My id is ', ''))
      const alternate = ids.every((id, i) => i === 0 || id !== ids[i - 1])
      if (!alternate || !ids.includes(a.id) || !ids.includes(b.id)) throw new Error('answers did not alternate between both pods')
    })

    await step(`remove ${b.name} (CNI DEL), its name is gone; the balancer fails over to ${a.name}`, async () => {
      b.server?.kill()
      await cni.del(b.att)
      const gone = await a.ns.exec('getent', ['ahostsv4', b.name], { reject: false })
      if (gone.exitCode === 0) throw new Error(`${b.name} still resolves after its DEL: ${String(gone.stdout).trim()}`)
      const web = await a.ns.exec('getent', ['ahostsv4', 'web'], { reject: false })
      detail(`${b.name} no longer resolves; web -> ${[...new Set(String(web.stdout).split('\n').map((l) => l.split(/\s+/)[0]).filter((x) => x))].join(', ')}`)
      const answers = await askBalancer(hostNs, lbUrl, 4)
      answers.forEach((ans, i) => detail(`request ${i + 1}: ${ans}`))
      if (!answers.every((ans) => ans === `My id is ${a.id}`)) throw new Error(`expected every answer from ${a.name}`)
    })
  } catch (err) {
    failed = true
    if (!(err instanceof StepFailed)) process.stdout.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  } finally {
    await step('tear down: DEL every pod, stop services, and check that nothing is left', async () => {
      nginx?.kill()
      for (const pod of pods) pod.server?.kill()
      const leftovers: string[] = []
      for (const pod of [...pods, ...(balancer ? [balancer] : [])]) {
        // DEL is idempotent: deleting pod-b again is fine and proves it.
        if (runtime) await runtime.del(pod.att).catch((e: Error) => leftovers.push(`DEL ${pod.name}: ${e.message}`))
      }
      if (host) leftovers.push(...(await leftoverState(host, pods)))
      // The last DEL stopped the network's DNS server and removed its files and port 53 rules.
      leftovers.push(...serversUnder(dnsDir).map((pid) => `DNS server pid ${pid}`))
      if (existsSync(join(dnsDir, 'tscni'))) leftovers.push(`DNS files ${join(dnsDir, 'tscni')}`)
      if (host) {
        const filter = await Promise.all([host.exec('iptables-save', ['-t', 'filter'], { reject: false }), host.exec('nft', ['list', 'ruleset'], { reject: false })])
        if (filter.some((r) => /tscni-dns/i.test(String(r.stdout)))) leftovers.push('DNS firewall rules')
      }
      for (const dir of resolvDirs) rmSync(dir, { recursive: true, force: true })
      // /etc/netns itself only if the demo made it and nothing else lives there.
      if (!hadNetnsEtc) try { rmdirSync('/etc/netns') } catch { /* in use or gone */ }
      const ipam = readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name !== 'lock' && !e.name.startsWith('last_reserved_ip'))
      leftovers.push(...ipam.map((e) => `address reservation ${e.name}`))
      await pool.cleanup()
      const ns = (await execa('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('tscni-demo-'))
      leftovers.push(...ns.map((n) => `namespace ${n}`))
      rmSync(work, { recursive: true, force: true })
      if (leftovers.length > 0) throw new Error(`left behind:\n${leftovers.join('\n')}`)
      detail('nothing left: no veth, no reservation, no firewall rule of the pods, no DNS server, no namespace, no temp files')
    }).catch(() => {
      failed = true
    })
  }
  process.stdout.write(failed ? '\ndemo FAILED (see the step above)\n' : '\ndemo finished: every step passed and nothing was left behind\n')
  return failed ? 1 : 0
}

// The host namespace's address on the bridge: the gateway the pods route through.
async function hostAddress(host: TestNetns): Promise<string> {
  const addrs = await host.ipJson<Array<{ ifname: string; addr_info: Array<{ family: string; local: string; scope: string }> }>>(['addr', 'show'])
  const found = addrs.filter((l) => l.ifname !== 'lo').flatMap((l) => l.addr_info).find((a) => a.family === 'inet' && a.scope === 'global')
  if (!found) throw new Error('the host namespace has no IPv4 address on the bridge (isGateway)')
  return found.local
}

async function curl(from: TestNetns, url: string): Promise<string> {
  const res = await from.exec('curl', ['-s', '--max-time', '3', url], { reject: false })
  if (res.exitCode !== 0) throw new Error(`curl ${url} from ${from.name} failed (exit ${res.exitCode})`)
  return String(res.stdout).trim()
}

async function askBalancer(host: TestNetns, url: string, times: number): Promise<string[]> {
  const answers: string[] = []
  for (let i = 0; i < times; i++) answers.push(await curl(host, url))
  return answers
}

// The runtime's job with a result's dns block: the namespace's resolv.conf (returns the directory to remove).
function writeResolvConf(ns: TestNetns, result: { dns?: { nameservers?: string[]; search?: string[] } }): string {
  const dir = `/etc/netns/${ns.name}`
  mkdirSync(dir, { recursive: true })
  const lines = [...(result.dns?.nameservers ?? []).map((s) => `nameserver ${s}`), ...(result.dns?.search?.length ? [`search ${result.dns.search.join(' ')}`] : [])]
  writeFileSync(`${dir}/resolv.conf`, `${lines.join('\n')}\n`)
  return dir
}

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`)
}

// Rules or links of the demo pods still present in the host namespace.
async function leftoverState(host: TestNetns, pods: readonly Pod[]): Promise<string[]> {
  const out: string[] = []
  const links = await host.ipJson<Array<{ ifname: string; link_type?: string; linkinfo?: { info_kind?: string } }>>(['-d', 'link', 'show'])
  out.push(...links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => `veth ${l.ifname}`))
  const rules = await firewallText(host)
  for (const pod of pods) {
    for (const line of rules.split('\n')) if (line.includes(pod.att.containerId) || (pod.ipv4 && line.includes(`${pod.ipv4}:`))) out.push(`rule: ${line.trim()}`)
  }
  return out
}

process.exitCode = await main()
