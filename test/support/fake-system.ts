// A fake System for handler unit tests: records every call, answers from scripted replies, can fail the N-th call.
import type { IpFailure, IpLink, IpRoute, NetnsState, RunResult, System } from '../../src/system/index.ts'

/** One recorded call: "ip.batch", "sysctl.set", "exec.run", ... with its arguments. */
export interface FakeCall {
  readonly method: string
  readonly args: readonly unknown[]
}

/** An error the fake throws; `failure()` classifies it like the real ip tool would. */
export class FakeError extends Error {
  readonly failure: IpFailure
  constructor(msg: string, failure: IpFailure = { exists: false, noDevice: false }) {
    super(msg)
    this.failure = failure
  }
}

type Reply = (...args: any[]) => unknown

/** The fake, with its recording and scripting handles. */
export interface FakeSystem extends System {
  readonly calls: FakeCall[]
  /** Scripted reply for a method (may throw); replaces the default. */
  on(method: string, reply: Reply): FakeSystem
  /** Makes the n-th call (1-based, counting every method) throw `err`. */
  failCall(n: number, err?: Error): FakeSystem
  /** Calls of one method. */
  callsOf(method: string): FakeCall[]
}

/** Defaults: no links, no routes, every netns "ok", every command succeeds with empty output. */
export function createFakeSystem(): FakeSystem {
  const calls: FakeCall[] = []
  const replies = new Map<string, Reply>()
  const failures = new Map<number, Error>()
  const defaults: Record<string, Reply> = {
    'exec.run': (): RunResult => ({ stdout: '', stderr: '', exitCode: 0 }),
    'netns.state': (): NetnsState => 'ok',
    'netns.isOwn': () => false,
    'conntrack.flushUdpPorts': () => [],
    'dnsmasq.running': () => undefined,
    'dnsmasq.start': () => undefined,
    'dnsmasq.stop': () => undefined,
    'dnsmasq.version': () => 'Dnsmasq version 2.90',
    'dnsmasq.userExists': () => true,
    'dnsmasq.readText': () => undefined,
    'netfilter.save': () => '',
    'netfilter.listChain': () => '',
    'netfilter.restore': () => undefined,
    'netfilter.nftApply': () => undefined,
    'netfilter.nftList': () => undefined,
    'netfilter.iptablesUsable': () => true,
    'netfilter.nftUsable': () => true,
    'ip.batch': () => undefined,
    'ip.vlans': () => undefined,
    'ip.links': (): IpLink[] => [],
    'ip.batchThenShow': (): IpLink[] => [],
    'ip.inspect': () => ({ links: [], sysctls: [] }),
    'ip.routes': (): IpRoute[] => [],
    'ip.routeDev': () => 'cni0',
    'ip.fdb': () => undefined,
    'ip.neighbours': () => [],
    'ip.fdbEntries': () => [],
    'sysctl.get': () => '0',
    'sysctl.set': () => undefined,
    'sysctl.ensure': () => undefined,
    'sysctl.linkAttr': (_name: string, attr: string) => (attr === 'operstate' ? 'up' : undefined),
    'tc.batch': () => undefined,
    'tc.qdiscs': () => [],
  }
  const call = async (method: string, args: unknown[]): Promise<any> => {
    calls.push({ method, args })
    const failure = failures.get(calls.length)
    if (failure) throw failure
    const reply = replies.get(method) ?? defaults[method]
    if (!reply) throw new Error(`fake system: no reply for ${method}`)
    return reply(...args)
  }
  const fake: FakeSystem = {
    calls,
    on(method, reply) {
      replies.set(method, reply)
      return fake
    },
    failCall(n, err = new FakeError(`injected failure of call ${n}`)) {
      failures.set(n, err)
      return fake
    },
    callsOf: (method) => calls.filter((c) => c.method === method),
    exec: { run: (...args) => call('exec.run', args) },
    netns: { state: (...args) => call('netns.state', args), isOwn: (...args) => call('netns.isOwn', args) },
    locker: { acquire: async () => ({ release: async () => undefined }) },
    conntrack: { flushUdpPorts: (...args) => call('conntrack.flushUdpPorts', args) },
    dnsmasq: {
      running: (...args) => call('dnsmasq.running', args),
      start: (...args) => call('dnsmasq.start', args),
      stop: (...args) => call('dnsmasq.stop', args),
      version: (...args) => call('dnsmasq.version', args),
      userExists: (...args) => call('dnsmasq.userExists', args),
      readText: (...args) => call('dnsmasq.readText', args),
    },
    netfilter: {
      save: (...args) => call('netfilter.save', args),
      listChain: (...args) => call('netfilter.listChain', args),
      restore: (...args) => call('netfilter.restore', args),
      nftApply: (...args) => call('netfilter.nftApply', args),
      nftList: (...args) => call('netfilter.nftList', args),
      iptablesUsable: (...args) => call('netfilter.iptablesUsable', args),
      nftUsable: (...args) => call('netfilter.nftUsable', args),
    },
    ip: {
      batch: (...args) => call('ip.batch', args),
      vlans: (...args) => call('ip.vlans', args),
      links: (...args) => call('ip.links', args),
      batchThenShow: (...args) => call('ip.batchThenShow', args),
      inspect: (...args) => call('ip.inspect', args),
      routes: (...args) => call('ip.routes', args),
      routeDev: (...args) => call('ip.routeDev', args),
      fdb: (...args) => call('ip.fdb', args),
      neighbours: (...args) => call('ip.neighbours', args),
      fdbEntries: (...args) => call('ip.fdbEntries', args),
      failure: (err) => (err instanceof FakeError ? err.failure : { exists: false, noDevice: false }),
    },
    sysctl: {
      get: (...args) => call('sysctl.get', args),
      set: (...args) => call('sysctl.set', args),
      ensure: (...args) => call('sysctl.ensure', args),
      linkAttr: (...args) => call('sysctl.linkAttr', args),
    },
    tc: {
      batch: (...args) => call('tc.batch', args),
      qdiscs: (...args) => call('tc.qdiscs', args),
    },
  }
  return fake
}
