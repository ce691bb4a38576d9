// The DNS role (dnsname): container names on a network, answered by one dnsmasq per network. Chained after bridge.
import { createDnsFirewall, missingDnsAccessError } from '../firewall/dns-access.ts'
import { createFirewall, type FirewallFactory } from '../firewall/select.ts'
import { recordKeyOf, recordOfAdd, stateDirOf } from '../plugin/attachment-record.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { CniError, ErrorCode, invalidConfig, normalizeError, wrapError } from '../plugin/errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import { decodeResult } from '../plugin/version.ts'
import { dataDirForDel, parseDnsConfig, type DnsConfig } from './config.ts'
import { attachmentNames, bareNameTaken, publishes, showName, type AttachmentNames } from './names.ts'
import { dnsRecordedRules } from './reconcile.ts'
import { attachmentFile, dnsAccess, dnsmasqConfig, hostsFile, legacyAttachmentFile, networkFacts, networkPaths, upstreamServers, withDns, type NetworkPaths } from './plan.ts'
import { ensureNetworkDirs, listAttachmentFiles, lockPath, readIfExists, removeFile, removeNetworkFiles, untrustedNetworkDirs, writeAtomic } from './store.ts'

const LOCK_TIMEOUT_MS = 20_000

// The role name in attachment records (reconcile reads them through dns/reconcile.ts).
const RECORD_ROLE = 'dnsname'

/** What the role needs besides the Context: the firewall backends (a seam for handler tests). */
export interface DnsDeps {
  readonly firewall: FirewallFactory
}

const realDeps: DnsDeps = { firewall: createFirewall }

/** Builds the DNS role's handlers. */
export function createDns(deps: DnsDeps = realDeps): RoleHandlers {
  // The last attachment gone: stop the server, remove the port 53 rules from every backend, and the role's files.
  const stopIfIdle = async (ctx: Context, paths: NetworkPaths): Promise<void> => {
    if ((await listAttachmentFiles(paths)).length > 0) return
    await ctx.sys.dnsmasq.stop(paths.pidFile, paths.conf)
    const usable = (await deps.firewall(ctx.sys, ctx.log).usable()).map((b) => b.name)
    await ctx.trace.step('dns firewall remove', () => createDnsFirewall(ctx.sys).remove(usable, ctx.conf.name))
    const kept = await removeNetworkFiles(paths)
    if (kept) ctx.log.info(`kept ${kept}`)
  }

  return {
    about: 'tscni dnsname: container names on the network, answered by one dnsmasq per network, chained after bridge',

    async add(ctx) {
      const config = parseDnsConfig(ctx.conf.raw, ctx.conf.name)
      const prev = prevResultOf(ctx, config, 'must be called as chained plugin')
      const facts = networkFacts(prev, ctx.env.ifname)
      if (facts.addresses.length === 0) throw invalidConfig(`prevResult has no address on the container interface "${ctx.env.ifname}": there is nothing to name`)
      if (facts.gateways.length === 0) throw invalidConfig('prevResult has no gateway address for the DNS server to listen on (set isGateway on the bridge)')
      const named = attachmentNames({ name: ctx.env.args.get('K8S_POD_NAME'), namespace: ctx.env.args.get('K8S_POD_NAMESPACE') }, config.aliases, ctx.env.containerId)
      for (const r of named.refused) ctx.log.warn(`name ${showName(r.name)} (${r.source}) is not a valid DNS label (a-z, 0-9 and inner -, at most 63): not published`)
      const paths = networkPaths(config.dataDir, ctx.conf.name)
      const file = `${paths.hostsDir}/${attachmentFile(ctx.env.containerId, ctx.env.ifname)}`
      const result = withDns(prev, facts.gateways, config.domainName)
      await withLock(ctx, config, async () => {
        await ensureNetworkDirs(paths, config.dataDir)
        const names = await publishedNames(ctx, paths, named)
        const resolv = await ctx.sys.dnsmasq.readText(config.resolvConf)
        if (resolv === undefined) ctx.log.warn(`cannot read ${config.resolvConf}: names outside ${config.domainName} will not resolve`)
        const user = config.user ?? ((await ctx.sys.dnsmasq.userExists('dnsmasq')) ? 'dnsmasq' : 'nobody')
        const conf = dnsmasqConfig({ network: ctx.conf.name, domain: config.domainName, gateways: facts.gateways, upstream: upstreamServers(resolv ?? '', facts.gateways), user, paths })
        await writeAtomic(paths, file, hostsFile(facts.addresses, names, config.domainName))
        try {
          await ctx.trace.step('dnsmasq ensure', () => ensureServer(ctx, paths, conf))
          const backend = await deps.firewall(ctx.sys, ctx.log).select(config.backend)
          const access = dnsAccess(ctx.conf.name, facts)
          await ctx.trace.step('dns firewall ensure', () => createDnsFirewall(ctx.sys).ensure(backend.name, access))
          // Last: a record that cannot be written fails the ADD like any other step (reconcile relies on it).
          ctx.records?.write(recordOfAdd(ctx, RECORD_ROLE, dnsRecordedRules(backend.name, access, config.dataDir, attachmentFile(ctx.env.containerId, ctx.env.ifname)), result), stateDirOf(ctx.conf.raw))
        } catch (err) {
          await removeFile(file).catch(() => false)
          await stopIfIdle(ctx, paths).catch(() => undefined)
          throw wrapError(`cannot start the DNS server of network "${ctx.conf.name}"`, err)
        }
      })
      return result
    },

    async del(ctx) {
      // DEL needs neither prevResult, names nor the netns: the file is named by container id and interface.
      let config: DnsConfig | undefined
      try {
        config = parseDnsConfig(ctx.conf.raw, ctx.conf.name)
      } catch (err) {
        ctx.log.warn(`DEL continues despite an unreadable config: ${normalizeError(err).message}`)
      }
      // A dataDir that failed its check is never used: the directory is removed from, so it must be one ADD accepted.
      const dataDir = config?.dataDir ?? dataDirForDel(ctx.conf.raw)
      if (dataDir === undefined) ctx.log.warn('DEL leaves the DNS files alone: the config\'s dataDir is not a plain absolute path')
      const paths = dataDir === undefined ? undefined : networkPaths(dataDir, ctx.conf.name)
      const untrusted = paths && (await untrustedNetworkDirs(paths))
      if (untrusted) ctx.log.warn(`DEL leaves the DNS files alone: ${untrusted}`)
      if (dataDir !== undefined && paths !== undefined && !untrusted && ((await readIfExists(paths.conf)) !== undefined || (await listAttachmentFiles(paths)).length > 0)) {
        await withLock(ctx, { dataDir }, async () => {
          // An attachment ADDed by tscni 0.1.0 has only the old name; a newer ADD's file is never the old one's.
          if (!(await removeFile(`${paths.hostsDir}/${attachmentFile(ctx.env.containerId, ctx.env.ifname)}`))) {
            await removeFile(`${paths.hostsDir}/${legacyAttachmentFile(ctx.env.containerId, ctx.env.ifname)}`)
          }
          await stopIfIdle(ctx, paths)
        })
      }
      // Last: while the DEL has not succeeded, reconcile still knows the attachment and can release it.
      ctx.records?.remove(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw))
    },

    async check(ctx) {
      const config = parseDnsConfig(ctx.conf.raw, ctx.conf.name)
      const facts = networkFacts(prevResultOf(ctx, config, 'Required prevResult missing'), ctx.env.ifname)
      const paths = networkPaths(config.dataDir, ctx.conf.name)
      const name = attachmentFile(ctx.env.containerId, ctx.env.ifname)
      const legacy = legacyAttachmentFile(ctx.env.containerId, ctx.env.ifname)
      if ((await readIfExists(`${paths.hostsDir}/${name}`)) === undefined && (await readIfExists(`${paths.hostsDir}/${legacy}`)) === undefined) {
        throw new CniError(ErrorCode.Internal, `DNS entry of container ${ctx.env.containerId} (${ctx.env.ifname}) on network "${ctx.conf.name}" is missing`, { details: `${paths.hostsDir}/${name}` })
      }
      if ((await ctx.sys.dnsmasq.running(paths.pidFile, paths.conf)) === undefined) {
        throw new CniError(ErrorCode.Internal, `the DNS server of network "${ctx.conf.name}" is not running`, { details: `no dnsmasq for ${paths.conf} (pid file ${paths.pidFile})` })
      }
      const backend = await deps.firewall(ctx.sys, ctx.log).select(config.backend)
      const missing = await createDnsFirewall(ctx.sys).missing(backend.name, dnsAccess(ctx.conf.name, facts))
      if (missing.length > 0) throw missingDnsAccessError(ctx.conf.name, missing)
    },

    async gc(ctx) {
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined) return
      const config = parseDnsConfig(ctx.conf.raw, ctx.conf.name)
      const paths = networkPaths(config.dataDir, ctx.conf.name)
      // Files tscni 0.1.0 wrote (`<id>-<ifname>`) are kept for the attachments still valid, and pruned like the rest.
      const keep = new Set(valid.flatMap((a) => [attachmentFile(a.containerID, a.ifname), legacyAttachmentFile(a.containerID, a.ifname)]))
      ctx.records?.prune(RECORD_ROLE, ctx.conf.name, valid, stateDirOf(ctx.conf.raw))
      if ((await readIfExists(paths.conf)) === undefined && (await listAttachmentFiles(paths)).length === 0) return
      const untrusted = await untrustedNetworkDirs(paths)
      if (untrusted) throw new CniError(ErrorCode.IoFailure, `refusing to prune DNS files in ${untrusted}`)
      await withLock(ctx, config, async () => {
        for (const file of await listAttachmentFiles(paths)) {
          if (keep.has(file)) continue
          ctx.log.info(`GC: removing the DNS entry ${file} of network "${ctx.conf.name}"`)
          await removeFile(`${paths.hostsDir}/${file}`)
        }
        await stopIfIdle(ctx, paths)
      })
    },

    async status(ctx) {
      parseDnsConfig(ctx.conf.raw, ctx.conf.name)
      if ((await ctx.sys.dnsmasq.version()) === undefined) {
        throw new CniError(ErrorCode.NotAvailable, 'dnsmasq is not installed or cannot run (Debian package dnsmasq-base)')
      }
      try {
        ctx.records?.assertWritable(stateDirOf(ctx.conf.raw))
      } catch (err) {
        throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${normalizeError(err).message}`, { cause: err })
      }
    },
  }
}

function prevResultOf(ctx: Context, config: DnsConfig, missing: string): Result {
  if (config.prevResult === undefined || config.prevResult === null) throw invalidConfig(missing)
  return decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult')
}

// One lock per data dir serialises ADD, DEL and GC of all its networks: config, files and the server change together.
// A wait that runs out rejects with the locker's SystemError, which normalizeError makes code 11 (try again later).
async function withLock<T>(ctx: Context, config: Pick<DnsConfig, 'dataDir'>, fn: () => Promise<T>): Promise<T> {
  const lock = await ctx.sys.locker.acquire(await lockPath(config.dataDir), LOCK_TIMEOUT_MS)
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}

// The names to publish: a namespaced pod's bare name only while no one else on the network holds it (names.ts).
// Read under the lock, so two ADDs never both see the name free.
async function publishedNames(ctx: Context, paths: NetworkPaths, named: AttachmentNames): Promise<readonly string[]> {
  const pod = named.pod
  if (pod === undefined) return named.names
  const ownFile = attachmentFile(ctx.env.containerId, ctx.env.ifname)
  // A repeated ADD keeps what the attachment already holds.
  if (publishes((await readIfExists(`${paths.hostsDir}/${ownFile}`)) ?? '', pod.name)) return named.names
  const own = new Set([ownFile, legacyAttachmentFile(ctx.env.containerId, ctx.env.ifname)])
  const others = await Promise.all((await listAttachmentFiles(paths)).filter((f) => !own.has(f)).map((f) => readIfExists(`${paths.hostsDir}/${f}`)))
  if (!bareNameTaken(pod, others.filter((t) => t !== undefined))) return named.names
  ctx.log.warn(`name "${pod.name}" is already published on network "${ctx.conf.name}" by another namespace or container: pod ${pod.name} of namespace ${pod.namespace} is published as "${pod.name}.${pod.namespace}" only`)
  return named.names.filter((n) => n !== pod.name)
}

// Starts the server when it is not running (also after it died: the next ADD restarts it) and restarts it when its
// config changed (a new gateway, different upstream servers).
async function ensureServer(ctx: Context, paths: NetworkPaths, conf: string): Promise<void> {
  const current = await readIfExists(paths.conf)
  const pid = await ctx.sys.dnsmasq.running(paths.pidFile, paths.conf)
  if (current === conf && pid !== undefined) return
  if (current !== conf) {
    if (pid !== undefined) await ctx.sys.dnsmasq.stop(paths.pidFile, paths.conf)
    await writeAtomic(paths, paths.conf, conf)
  }
  ctx.log.info(`starting dnsmasq for ${paths.conf}${pid === undefined ? '' : ' (config changed)'}`)
  await ctx.sys.dnsmasq.start(paths.conf, paths.pidFile)
}
