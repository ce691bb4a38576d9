// Pure iptables-restore scripts for ensure, remove and gc, computed from the intent and the parsed nat table.
import type { IpFamily } from '../plugin/addr.ts'
import type { IntentKind, MasqIntent, Owner, PortmapIntent } from './model.ts'
import { canonicalKey, goQuote, ruleLine } from './iptables-text.ts'
import { hasRule, rulesOf, type NatState } from './iptables-save.ts'
import {
  dnatChain, dnatEntryRules, dnatRules, legacySnatChain, markMasqRule, masqChain, masqRules, setMarkRule,
  MARK_MASQ, MARK_MASQ_ENTRY, SETMARK, TOP_DNAT, TOP_DNAT_ENTRY,
} from './iptables-rules.ts'

/** Wraps rule lines into one nat-table transaction; '' when there is nothing to do (no restore is run then). */
export function wrapScript(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `*nat\n${lines.join('\n')}\nCOMMIT\n`
}

/**
 * Several scripts rendered from the same state as one transaction: their rule lines in order, each distinct line
 * once. Lines two scripts share are the shared chains and entry rules both would create; an owner's own lines
 * differ from every other owner's, and one script never repeats a line, so nothing needed is dropped.
 */
export function mergeScripts(scripts: readonly string[]): string {
  const lines = new Set<string>()
  for (const script of scripts) {
    for (const line of script.split('\n')) if (line !== '' && line !== '*nat' && line !== 'COMMIT') lines.add(line)
  }
  return wrapScript([...lines])
}

// Creates a shared chain with "-N" (never ":CHAIN", which would flush it if someone else created it meanwhile:
// then the transaction fails and is retried on fresh state) and appends each rule that is not there yet.
function ensureShared(state: NatState, chain: string, rules: readonly (readonly string[])[], out: string[]): void {
  const exists = state.chains.has(chain)
  if (!exists) out.push(`-N ${chain}`)
  for (const r of rules) if (!exists || !hasRule(state, chain, r)) out.push(ruleLine('-A', chain, r))
}

function ensureEntry(state: NatState, from: string, rule: readonly string[], out: string[], first = false): void {
  if (!hasRule(state, from, rule)) out.push(first ? ruleLine('-I', `${from} 1`, rule) : ruleLine('-A', from, rule))
}

/** ipMasq for the addresses of one family: additive like the reference (an owner's other ifnames share the chain). */
export function renderMasqEnsure(intent: MasqIntent, family: IpFamily, state: NatState): string {
  const out: string[] = []
  const addrs = intent.addresses.filter((a) => a.ip.family === family)
  if (addrs.length === 0) return ''
  const chain = masqChain(intent.owner)
  // Two addresses in one subnet would repeat the masquerade rule; keep one copy of each rule.
  const rules = new Map(addrs.flatMap((a) => masqRules(intent.owner, a).chain).map((r) => [canonicalKey(r), r]))
  ensureShared(state, chain, [...rules.values()], out)
  for (const a of addrs) ensureEntry(state, 'POSTROUTING', masqRules(intent.owner, a).postrouting, out)
  return wrapScript(out)
}

/** Everything the portmap intent needs in one family, given the container address of that family. */
export function renderPortmapEnsure(intent: PortmapIntent, family: IpFamily, state: NatState): string {
  const container = family === 4 ? intent.containerV4 : intent.containerV6
  if (!container) return ''
  const out: string[] = []
  if (intent.snat && intent.externalSetMarkChain === undefined) {
    ensureShared(state, SETMARK, [setMarkRule(intent.markMasqBit)], out)
    ensureShared(state, MARK_MASQ, [markMasqRule(intent.markMasqBit)], out)
    ensureEntry(state, 'POSTROUTING', MARK_MASQ_ENTRY, out, true)
  }
  ensureShared(state, TOP_DNAT, [], out)
  ensureEntry(state, 'PREROUTING', TOP_DNAT_ENTRY, out)
  ensureEntry(state, 'OUTPUT', TOP_DNAT_ENTRY, out)
  // The container chain is named after (network, container) only, as the reference names it, so two interfaces
  // of one container on one network share it: ensure only appends the rules that are missing (the reference
  // does the same), and a repeated ensure adds nothing. DEL removes the chain as a whole.
  const chain = dnatChain(intent.owner)
  if (!state.chains.has(chain)) out.push(`-N ${chain}`)
  appendMissing(chain, rulesOf(state, chain).map((r) => r.key), dnatRules(intent, container), out)
  const jumps = dnatEntryRules(intent, family).map((r) => [...r, '-j', chain])
  appendMissing(TOP_DNAT, rulesOf(state, TOP_DNAT).filter((r) => r.target === chain).map((r) => r.key), jumps, out)
  return wrapScript(out)
}

function appendMissing(chain: string, haveKeys: readonly string[], want: readonly (readonly string[])[], out: string[]): void {
  const have = new Set(haveKeys)
  for (const r of want) if (!have.has(canonicalKey(r))) out.push(ruleLine('-A', chain, r))
}

/** The chains an owner has for a kind (portmap also the legacy SNAT chain of old reference versions). */
export function ownedChains(kind: IntentKind, owner: Owner): string[] {
  return kind === 'masquerade' ? [masqChain(owner)] : [dnatChain(owner), legacySnatChain(owner)]
}

/** Lines deleting every jump to each chain (from any chain, found in the saved state), then the chains. */
export function removeChainLines(chains: readonly string[], state: NatState): string[] {
  const out: string[] = []
  const doomed = new Set(chains)
  for (const r of state.rules) {
    // Rules inside a doomed chain go with its flush; deleting them one by one would only cost time.
    if (r.target !== undefined && doomed.has(r.target) && !doomed.has(r.chain)) out.push(`-D ${r.chain} ${r.text}`)
  }
  for (const c of chains) if (state.chains.has(c)) out.push(`-F ${c}`, `-X ${c}`)
  return out
}

/** Removes an owner's objects of one kind: needs no addresses or mappings, only the owner's names. */
export function renderRemove(kind: IntentKind, owner: Owner, state: NatState): string {
  return wrapScript(removeChainLines(ownedChains(kind, owner), state))
}

/**
 * GC for one network: chains whose jump carries this network's comment (ours or the reference's) but whose
 * container is not among `valid`. The iptables comments hold no ifname, so validity is per container.
 */
export function renderGc(kind: IntentKind, network: string, valid: readonly Owner[], state: NatState): string {
  const keep = new Set(valid.flatMap((o) => ownedChains(kind, { ...o, network })))
  const [from, prefix, chainPrefix] = kind === 'masquerade'
    ? ['POSTROUTING', `name: ${goQuote(network)} id: `, 'CNI-']
    : [TOP_DNAT, `dnat name: ${goQuote(network)} id: `, 'CNI-DN-']
  const stale = new Set<string>()
  for (const r of rulesOf(state, from)) {
    if (r.target?.startsWith(chainPrefix) && r.comment?.startsWith(prefix) && !keep.has(r.target)) stale.add(r.target)
  }
  return wrapScript(removeChainLines([...stale], state))
}

/** What CHECK finds missing for an intent in one family (empty when everything is in place). */
export function missingRules(intent: MasqIntent | PortmapIntent, family: IpFamily, state: NatState): string[] {
  const expected: [string, readonly string[]][] = []
  if (intent.kind === 'masquerade') {
    for (const a of intent.addresses.filter((x) => x.ip.family === family)) {
      const r = masqRules(intent.owner, a)
      for (const c of r.chain) expected.push([masqChain(intent.owner), c])
      expected.push(['POSTROUTING', r.postrouting])
    }
  } else {
    const container = family === 4 ? intent.containerV4 : intent.containerV6
    if (!container) return []
    const chain = dnatChain(intent.owner)
    if (!state.chains.has(chain)) return [`chain ${chain} not found in iptables table nat`]
    for (const r of dnatRules(intent, container)) expected.push([chain, r])
    for (const r of dnatEntryRules(intent, family)) expected.push([TOP_DNAT, [...r, '-j', chain]])
  }
  return expected.filter(([chain, r]) => !hasRule(state, chain, r)).map(([chain, r]) => ruleLine('-A', chain, r))
}
