// The iptables backend's part for the firewall role's kinds (forward-accept, isolation): one iptables-restore of
// the filter table per family, rendered from a fresh `iptables-save -t filter` (iptables-forward.ts). The caller
// holds the firewall lock.
import type { IpFamily } from '../plugin/addr.ts'
import type { Logger } from '../plugin/log.ts'
import type { Netfilter } from '../system/index.ts'
import { familiesOfIntents, type FirewallIntent, type ForwardAcceptIntent, type IntentKind, type IsolationIntent } from './model.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { applyWithRetry } from './retry.ts'
import { parseSave, type NatState } from './iptables-save.ts'
import { missingForward, renderAcceptRemove, renderForwardEnsure, renderIsolationRemove, wrapFilter } from './iptables-forward.ts'

/** The kinds this part serves. */
export type ForwardIntent = ForwardAcceptIntent | IsolationIntent

/** True for the firewall role's kinds. */
export function isForwardKind(kind: IntentKind): kind is ForwardIntent['kind'] {
  return kind === 'forward-accept' || kind === 'isolation'
}

/** What the part needs of the backend: the tools, the log, and the family probe. */
export interface ForwardOpsDeps {
  readonly netfilter: Netfilter
  readonly log: Logger
  familyUsable(family: IpFamily): Promise<boolean>
}

/** The operations, each without the lock (the backend takes it). */
export function createIptablesForward(deps: ForwardOpsDeps) {
  const tool = (family: IpFamily): string => (family === 4 ? 'iptables-restore' : 'ip6tables-restore')
  const read = async (family: IpFamily): Promise<NatState> => parseSave(await deps.netfilter.save(family, 'filter'), 'filter')
  const run = (family: IpFamily, render: (state: NatState) => string): Promise<void> =>
    applyWithRetry(tool(family), async () => render(await read(family)), (s) => deps.netfilter.restore(family, s), deps.log)
  // One script per family for all intents, rendered in order from one state: accept lines first, so that STAGE-1's
  // jump, inserted after CNI-FORWARD's, ends up before it as in the reference.
  const ensureAll = async (intents: readonly ForwardIntent[]): Promise<void> => {
    const ordered = [...intents.filter((i) => i.kind === 'forward-accept'), ...intents.filter((i) => i.kind === 'isolation')]
    for (const family of familiesOfIntents(ordered)) {
      await run(family, (state) => wrapFilter([...new Set(ordered.flatMap((i) => renderForwardEnsure(i, family, state)))]))
    }
  }
  return {
    ensureAll,
    ensure: (intent: ForwardIntent) => ensureAll([intent]),
    /**
     * Removes what the recorded intents name: the accept rules carry no owner (they are the reference's, so either
     * implementation removes the other's), so without them there is nothing this backend can find.
     */
    async remove(kind: ForwardIntent['kind'], recorded: readonly FirewallIntent[] | undefined): Promise<void> {
      const mine = (recorded ?? []).filter((i): i is ForwardIntent => i.kind === kind)
      if (mine.length === 0) {
        deps.log.debug(`iptables ${kind}: no recorded addresses or bridge, nothing to remove`)
        return
      }
      for (const family of familiesOfIntents(mine)) {
        const render = (state: NatState): string => kind === 'forward-accept'
          ? renderAcceptRemove(mine as ForwardAcceptIntent[], family, state)
          : renderIsolationRemove([...new Set((mine as IsolationIntent[]).map((i) => i.bridge))], state)
        await run(family, render).catch(async (err: unknown) => {
          if (await deps.familyUsable(family)) throw err
        })
      }
    },
    async verify(intent: ForwardIntent): Promise<void> {
      const missing: string[] = []
      for (const family of familiesOfIntents([intent])) {
        for (const line of missingForward(intent, family, await read(family))) missing.push(`${family === 4 ? 'iptables' : 'ip6tables'}: ${line}`)
      }
      if (missing.length > 0) throw forwardMissingError(intent, '', missing)
    },
  }
}

/** CHECK's error for the firewall role's rules: the first missing one named, every one in `details`. */
export function forwardMissingError(intent: ForwardIntent, backend: string, missing: readonly string[]): CniError {
  const what = intent.kind === 'forward-accept' ? 'firewall' : `firewall ingressPolicy ${intent.policy} (bridge ${intent.bridge})`
  const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''
  return new CniError(ErrorCode.Internal, `${what} ${backend}rules for container ${intent.owner.containerId} on network "${intent.owner.network}" are missing: ${missing[0]}${more}`, { details: missing.join('\n') })
}

/** True for an intent of the firewall role's kinds. */
export function isForwardIntent(intent: FirewallIntent): intent is ForwardIntent {
  return isForwardKind(intent.kind)
}
