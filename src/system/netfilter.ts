// The netfilter tools: iptables-save/-restore (both families) and nft, plus probes that work when a binary is absent.
import type { Exec } from './exec.ts'
import { SystemError } from './errors.ts'

/** Address family of an iptables binary pair: 4 is iptables, 6 is ip6tables. */
export type NetfilterFamily = 4 | 6

/** Typed calls to the netfilter command-line tools. No policy: callers decide what to apply. */
export interface Netfilter {
  /** `iptables-save -t <table>` (or ip6tables-save): the table's rules in restore format. */
  save(family: NetfilterFamily, table: string): Promise<string>
  /**
   * `iptables -t <table> -S <chain>` (or ip6tables): one chain's rules in restore format, read without the rest of the
   * table (the cost of a save grows with every rule of the table). SystemError when the chain does not exist.
   */
  listChain(family: NetfilterFamily, table: string, chain: string): Promise<string>
  /** `iptables-restore -w --noflush` with `script` on stdin: one atomic transaction. SystemError on failure. */
  restore(family: NetfilterFamily, script: string): Promise<void>
  /** `nft -f -` with `script` on stdin: one atomic transaction. SystemError on failure. */
  nftApply(script: string): Promise<void>
  /**
   * `nft -j [-a] list <what...>` (e.g. ['chain', 'inet', 't', 'c']): the JSON text, or undefined when the listed
   * object does not exist. Other failures throw SystemError.
   */
  nftList(what: readonly string[]): Promise<string | undefined>
  /** True when the iptables (or ip6tables) nat table can be read: the binary exists and the kernel supports it. */
  iptablesUsable(family: NetfilterFamily): Promise<boolean>
  /** True when nft exists and can read the ruleset (kernel nf_tables present, CAP_NET_ADMIN held). */
  nftUsable(): Promise<boolean>
}

// The xtables lock is taken by iptables-nft too; waiting beats failing when kube-proxy or another plugin holds it.
const WAIT_SECONDS = '10'

/** The real tools through the given runner (which may put every call inside a namespace). */
export function createNetfilter(exec: Exec): Netfilter {
  const bin = (family: NetfilterFamily, tool: string): string => (family === 4 ? `iptables${tool}` : `ip6tables${tool}`)
  return {
    async save(family, table) {
      return (await exec.run(bin(family, '-save'), ['-t', table])).stdout
    },
    async listChain(family, table, chain) {
      return (await exec.run(bin(family, ''), ['-w', WAIT_SECONDS, '-t', table, '-S', chain])).stdout
    },
    async restore(family, script) {
      await exec.run(bin(family, '-restore'), ['-w', WAIT_SECONDS, '--noflush'], { input: script })
    },
    async nftApply(script) {
      await exec.run('nft', ['-f', '-'], { input: script })
    },
    async nftList(what) {
      const res = await exec.run('nft', ['-j', '-a', 'list', ...what], { allowFailure: true })
      if (res.exitCode === 0) return res.stdout
      // nft says ENOENT for a missing table or chain; anything else is a real failure the caller must see.
      const err = new SystemError({ cmd: 'nft', args: ['-j', '-a', 'list', ...what], exitCode: res.exitCode, stderr: res.stderr })
      if (err.reason === 'not-found') return undefined
      throw err
    },
    iptablesUsable(family) {
      return succeeds(exec, bin(family, ''), ['-w', WAIT_SECONDS, '-t', 'nat', '-S', 'POSTROUTING'])
    },
    nftUsable() {
      // A read answers the same question as a checked transaction at a tenth of the cost (~1 ms vs ~12 ms): a
      // check-mode commit still makes the kernel build and abort a transaction.
      return succeeds(exec, 'nft', ['list', 'tables'])
    },
  }
}

// A missing binary makes spawn fail with ENOENT (a SystemError): that is "not usable", not an error (containernetworking/plugins#1280).
async function succeeds(exec: Exec, cmd: string, args: readonly string[], input?: string): Promise<boolean> {
  try {
    const res = await exec.run(cmd, args, { allowFailure: true, timeoutMs: 15_000, ...(input === undefined ? {} : { input }) })
    return res.exitCode === 0
  } catch (err) {
    if (err instanceof SystemError) return false
    throw err
  }
}
