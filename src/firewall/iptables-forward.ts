// The firewall role's iptables rules in the filter table, argument for argument the reference's
// (plugins/meta/firewall/iptables.go and ingresspolicy.go in containernetworking/plugins), and the pure
// iptables-restore scripts that ensure, remove and check them from a parsed `iptables-save -t filter`.
import { formatIp, type IpFamily, type IpNet } from '../plugin/addr.ts'
import type { ForwardAcceptIntent, IsolationIntent } from './model.ts'
import { canonicalKey, ruleLine } from './iptables-text.ts'
import { hasRule, rulesOf, type NatState, type SavedRule } from './iptables-save.ts'

/** The reference's chain holding the per-address accept rules, jumped first from FORWARD. */
export const FORWARD_CHAIN = 'CNI-FORWARD'
export const STAGE1 = 'CNI-ISOLATION-STAGE-1'
export const STAGE2 = 'CNI-ISOLATION-STAGE-2'

/** FORWARD's jump to CNI-FORWARD. */
export const FORWARD_JUMP: readonly string[] = ['-m', 'comment', '--comment', 'CNI firewall plugin rules', '-j', FORWARD_CHAIN]

/** CNI-FORWARD's first rule: the jump to the admin override chain. */
export function adminJump(adminChain: string): string[] {
  return ['-m', 'comment', '--comment', 'CNI firewall plugin admin overrides', '-j', adminChain]
}

/** The reference's two accept rules for one container address (as a host address, /32 or /128). */
export function acceptRules(addr: IpNet): string[][] {
  const host = `${formatIp(addr.ip)}/${addr.ip.family === 4 ? 32 : 128}`
  return [['-d', host, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'], ['-s', host, '-j', 'ACCEPT']]
}

// The reference's isolation comment names the policy that set the rule up (containernetworking/plugins#1140).
function policyComment(policy: IsolationIntent['policy']): string[] {
  return ['-m', 'comment', '--comment', `CNI firewall plugin rules (ingressPolicy: ${policy})`]
}

/** The isolation rules of one bridge, by chain, in the order the reference keeps them (bridge rules before RETURN). */
export function isolationRules(intent: Pick<IsolationIntent, 'bridge' | 'policy'>): { jump: string[]; stage1: string[][]; return1: string[]; stage2: string[]; return2: string[] } {
  const c = policyComment(intent.policy)
  const b = intent.bridge
  return {
    jump: ['-j', STAGE1, ...c],
    stage1: [
      ['-i', b, '!', '-o', b, '-j', STAGE2, ...c],
      ...(intent.policy === 'isolated' ? [['-i', b, '-o', b, '-j', 'DROP', ...c]] : []),
    ],
    return1: ['-j', 'RETURN', ...c],
    stage2: ['-o', b, '-j', 'DROP', ...c],
    return2: ['-j', 'RETURN', ...c],
  }
}

/** Wraps filter-table lines into one transaction; '' when there is nothing to do. */
export function wrapFilter(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `*filter\n${lines.join('\n')}\nCOMMIT\n`
}

// "-N" for a chain the saved table lacks (never ":CHAIN", which would flush it if someone made it meanwhile).
function chainLines(state: NatState, chains: readonly string[]): string[] {
  return chains.filter((c) => !state.chains.has(c)).map((c) => `-N ${c}`)
}

function insertFirst(state: NatState, chain: string, rule: readonly string[], out: string[]): void {
  if (!hasRule(state, chain, rule)) out.push(ruleLine('-I', `${chain} 1`, rule))
}

function append(state: NatState, chain: string, rule: readonly string[], out: string[]): void {
  if (!hasRule(state, chain, rule)) out.push(ruleLine('-A', chain, rule))
}

/** The accept rules of one family and their shared chains and jumps, as the reference's setupChains + AppendUnique. */
export function renderAcceptLines(intent: ForwardAcceptIntent, family: IpFamily, state: NatState): string[] {
  const addrs = intent.addresses.filter((a) => a.ip.family === family)
  if (addrs.length === 0) return []
  const out = chainLines(state, [FORWARD_CHAIN, intent.adminChain])
  insertFirst(state, 'FORWARD', FORWARD_JUMP, out)
  insertFirst(state, FORWARD_CHAIN, adminJump(intent.adminChain), out)
  const seen = new Set<string>()
  for (const r of addrs.flatMap(acceptRules)) {
    const line = ruleLine('-A', FORWARD_CHAIN, r)
    if (seen.has(line)) continue
    seen.add(line)
    append(state, FORWARD_CHAIN, r, out)
  }
  return out
}

/** One bridge's isolation chains and rules, inserted as the reference's InsertUnique does (STAGE-1 before CNI-FORWARD). */
export function renderIsolationLines(intent: IsolationIntent, family: IpFamily, state: NatState): string[] {
  if (!intent.families.includes(family)) return []
  const r = isolationRules(intent)
  const out = chainLines(state, [STAGE1, STAGE2])
  insertFirst(state, 'FORWARD', r.jump, out)
  for (const rule of r.stage1) insertFirst(state, STAGE1, rule, out)
  append(state, STAGE1, r.return1, out)
  insertFirst(state, STAGE2, r.stage2, out)
  append(state, STAGE2, r.return2, out)
  return out
}

/** Lines ensuring either kind (accept and isolation in one script keep STAGE-1's jump before CNI-FORWARD's). */
export function renderForwardEnsure(intent: ForwardAcceptIntent | IsolationIntent, family: IpFamily, state: NatState): string[] {
  return intent.kind === 'forward-accept' ? renderAcceptLines(intent, family, state) : renderIsolationLines(intent, family, state)
}

function deleteLine(r: SavedRule): string {
  return `-D ${r.chain} ${r.text}`
}

// The saved rule equal to `args` in `chain`, if any.
function savedOf(state: NatState, chain: string, args: readonly string[]): SavedRule | undefined {
  const key = canonicalKey(args)
  return rulesOf(state, chain).find((r) => r.key === key)
}

/**
 * Removes the accept rules of the given addresses (the reference's delRules); when CNI-FORWARD then holds nothing
 * but the admin jump, it goes too, with FORWARD's jump, and an admin chain that is empty and unused elsewhere.
 */
export function renderAcceptRemove(intents: readonly ForwardAcceptIntent[], family: IpFamily, state: NatState): string {
  const doomed = new Set<SavedRule>()
  for (const intent of intents) {
    for (const a of intent.addresses.filter((x) => x.ip.family === family)) {
      for (const rule of acceptRules(a)) {
        const saved = savedOf(state, FORWARD_CHAIN, rule)
        if (saved) doomed.add(saved)
      }
    }
  }
  const out = [...doomed].map(deleteLine)
  const left = rulesOf(state, FORWARD_CHAIN).filter((r) => !doomed.has(r))
  const admins = left.filter((r) => r.comment === 'CNI firewall plugin admin overrides').map((r) => r.target!)
  if (state.chains.has(FORWARD_CHAIN) && left.length === admins.length) {
    for (const r of rulesOf(state, 'FORWARD').filter((x) => x.target === FORWARD_CHAIN)) out.push(deleteLine(r))
    out.push(`-F ${FORWARD_CHAIN}`, `-X ${FORWARD_CHAIN}`)
    for (const admin of new Set(admins)) {
      const usedElsewhere = state.rules.some((x) => x.target === admin && x.chain !== FORWARD_CHAIN)
      if (rulesOf(state, admin).length === 0 && !usedElsewhere) out.push(`-X ${admin}`)
    }
  }
  return wrapFilter(out)
}

// A rule of the isolation chains that names the bridge (either policy, ours or the reference's).
function namesBridge(r: SavedRule, bridge: string): boolean {
  const a = r.args
  return a.some((t, i) => (t === '-i' || t === '-o' || t === '--in-interface' || t === '--out-interface') && a[i + 1] === bridge)
}

/**
 * Removes a bridge's isolation rules (its last attachment is gone); when no bridge is left in STAGE-1, both chains and
 * FORWARD's jumps to STAGE-1 go as well. The reference never removes them.
 */
export function renderIsolationRemove(bridges: readonly string[], state: NatState): string {
  const doomed = new Set(state.rules.filter((r) => (r.chain === STAGE1 || r.chain === STAGE2) && bridges.some((b) => namesBridge(r, b))))
  const out = [...doomed].map(deleteLine)
  const bridgeRulesLeft = rulesOf(state, STAGE1).filter((r) => !doomed.has(r) && r.target !== 'RETURN')
  const otherUsers = state.rules.some((r) => (r.target === STAGE1 || r.target === STAGE2) && r.chain !== 'FORWARD' && r.chain !== STAGE1)
  if (state.chains.has(STAGE1) && bridgeRulesLeft.length === 0 && !otherUsers) {
    for (const r of rulesOf(state, 'FORWARD').filter((x) => x.target === STAGE1)) out.push(deleteLine(r))
    out.push(`-F ${STAGE1}`, `-X ${STAGE1}`)
    const stage2Left = rulesOf(state, STAGE2).filter((r) => !doomed.has(r) && r.target !== 'RETURN')
    if (state.chains.has(STAGE2) && stage2Left.length === 0) out.push(`-F ${STAGE2}`, `-X ${STAGE2}`)
  }
  return wrapFilter(out)
}

/** What CHECK finds missing in one family (empty when everything is in place). */
export function missingForward(intent: ForwardAcceptIntent | IsolationIntent, family: IpFamily, state: NatState): string[] {
  const expected: [string, readonly string[]][] = []
  if (intent.kind === 'forward-accept') {
    const addrs = intent.addresses.filter((a) => a.ip.family === family)
    if (addrs.length === 0) return []
    expected.push(['FORWARD', FORWARD_JUMP], [FORWARD_CHAIN, adminJump(intent.adminChain)])
    for (const r of addrs.flatMap(acceptRules)) expected.push([FORWARD_CHAIN, r])
  } else {
    if (!intent.families.includes(family)) return []
    const r = isolationRules(intent)
    expected.push(['FORWARD', r.jump], ...r.stage1.map((x): [string, string[]] => [STAGE1, x]), [STAGE1, r.return1], [STAGE2, r.stage2], [STAGE2, r.return2])
  }
  return expected.filter(([chain, r]) => !hasRule(state, chain, r)).map(([chain, r]) => ruleLine('-A', chain, r))
}
