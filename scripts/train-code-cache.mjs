// The training run behind the single executable's V8 code cache (used by build.mjs): every verb of every role,
// run by plain Node through scripts/train-loader.cjs, each run adding what it compiled to <dir>/main.cache.
// As root, the verbs run for real inside two throwaway namespaces (a "host" and a container), with both firewall
// backends; otherwise only VERSION and the verbs that fail on their config run, and the cache stays partial.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/** Trains `<dir>/main.cache` for `<dir>/main.cjs` with the Node at `nodePath`; returns how complete it is. */
export function trainCodeCache(dir, nodePath) {
  const bin = mkdtempSync(join(tmpdir(), 'tscni-train-bin-'))
  const data = mkdtempSync(join(tmpdir(), 'tscni-train-data-'))
  // The roles link to a copy of the training loader in <dir>, next to the bundle and the addon: it reads both from
  // its own directory (plain Node looks for tscni-native.node beside the script it runs).
  copyFileSync('scripts/train-loader.cjs', join(dir, 'loader.cjs'))
  if (existsSync('dist/tscni-native.node')) copyFileSync('dist/tscni-native.node', join(dir, 'tscni-native.node'))
  for (const role of ['bridge', 'host-local', 'portmap', 'loopback']) symlinkSync(resolve(dir, 'loader.cjs'), join(bin, role))
  symlinkSync(resolve(dir, 'loader.cjs'), join(bin, 'firewall'))
  const full = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0
  const host = `tscni-train-h-${process.pid}`
  const ctr = `tscni-train-c-${process.pid}`
  const runVerb = (verb, role, conf, extraEnv = {}) => {
    // Attachment records of the training go to its temp dir, never the machine's state dir.
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TSCNI_STATE_DIR: join(data, 'state'), CNI_COMMAND: verb, CNI_CONTAINERID: 'train1', CNI_NETNS: `/run/netns/${ctr}`, CNI_IFNAME: 'eth0', CNI_PATH: bin, ...extraEnv }
    const argv = full ? ['netns', 'exec', host, nodePath, join(bin, role)] : [join(bin, role)]
    const res = spawnSync(full ? 'ip' : nodePath, argv, { env, input: conf === undefined ? '' : JSON.stringify(conf), encoding: 'utf8' })
    return res.status === 0 && res.stdout ? JSON.parse(res.stdout) : undefined
  }
  const run = (verb, role, conf) => runVerb(verb, role, conf)
  try {
    run('VERSION', 'bridge')
    // Failing verbs (config and environment errors) are pure: they train the error paths anywhere.
    run('ADD', 'bridge', { cniVersion: '1.0.0', name: 'trainnet', type: 'bridge', ipam: { type: 'host-local' } })
    run('ADD', 'portmap', { cniVersion: '1.0.0', name: 'trainnet', type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'tcp' }] } })
    run('DEL', 'bridge', { cniVersion: '9.9.9', name: 'trainnet', type: 'bridge' })
    if (!full) return 'partial (not root: error paths and VERSION only)'
    try {
      trainInNamespaces()
    } catch (err) {
      // A machine where namespaces or the firewall tools do not work still gets an executable, just a slower one.
      return `partial (the verbs could not run in namespaces: ${err.message.split('\n')[0]})`
    }
    return 'full (every verb of every role, both firewall backends, tools and netlink)'
  } finally {
    if (full) for (const ns of [ctr, host]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
    rmSync(bin, { recursive: true, force: true })
    rmSync(data, { recursive: true, force: true })
  }

  function trainInNamespaces() {
    execFileSync('ip', ['netns', 'add', host])
    execFileSync('ip', ['-n', host, 'link', 'set', 'lo', 'up'])
    execFileSync('ip', ['netns', 'add', ctr])
    const lo = { cniVersion: '1.0.0', name: 'trainlo', type: 'loopback' }
    const loResult = runVerb('ADD', 'loopback', lo)
    runVerb('CHECK', 'loopback', { ...lo, prevResult: loResult })
    runVerb('DEL', 'loopback', lo)
    // Both firewall backends over the in-process netlink path (the default), then over the tools once (TSCNI_NETLINK=0).
    for (const [backend, env] of [['iptables', {}], ['nftables', {}], ['iptables', { TSCNI_NETLINK: '0' }]]) {
      const run = (verb, role, conf) => runVerb(verb, role, conf, env)
      const bridge = {
        cniVersion: '1.0.0', name: 'trainnet', type: 'bridge', bridge: 'train0', isGateway: true, ipMasq: true, ipMasqBackend: backend,
        ipam: { type: 'host-local', dataDir: data, ranges: [[{ subnet: '10.88.0.0/16' }], [{ subnet: 'fd88::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] },
      }
      const portmap = {
        cniVersion: '1.0.0', name: 'trainnet', type: 'portmap', backend, capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] },
      }
      const added = run('ADD', 'bridge', bridge)
      if (!added) throw new Error(`training: bridge ADD (${backend}) failed`)
      const final = run('ADD', 'portmap', { ...portmap, prevResult: added }) ?? added
      run('CHECK', 'bridge', { ...bridge, prevResult: final })
      run('CHECK', 'portmap', { ...portmap, prevResult: final })
      // The firewall role as podman, nerdctl and Nomad chain it (accepts and a bridge's isolation), DEL from its record.
      const firewall = { cniVersion: '1.0.0', name: 'trainnet', type: 'firewall', backend, ingressPolicy: 'same-bridge' }
      run('ADD', 'firewall', { ...firewall, prevResult: final })
      run('CHECK', 'firewall', { ...firewall, prevResult: final })
      run('DEL', 'firewall', firewall)
      run('GC', 'firewall', { ...firewall, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] })
      run('STATUS', 'firewall', { ...firewall, cniVersion: '1.1.0' })
      run('DEL', 'portmap', { ...portmap, prevResult: final })
      run('DEL', 'bridge', { ...bridge, prevResult: final })
      const gc = { 'cni.dev/valid-attachments': [], 'cni.dev/attachments': [] }
      run('GC', 'portmap', { ...portmap, ...gc })
      run('GC', 'bridge', { ...bridge, ...gc })
      run('STATUS', 'bridge', bridge)
      run('STATUS', 'portmap', portmap)
    }
  }
}
