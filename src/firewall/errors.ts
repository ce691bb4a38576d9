// CNI errors for firewall failures: a failed transaction with its script, and CHECK's list of missing rules.
import { CniError, ErrorCode, normalizeError } from '../plugin/errors.ts'
import { SystemError } from '../system/errors.ts'
import type { FirewallIntent } from './model.ts'

/** A failed transaction as a CNI error: the tool's stderr and the whole script in `details`. */
export function applyError(what: string, script: string, err: unknown): CniError {
  const stderr = err instanceof SystemError ? err.stderr : normalizeError(err).message
  const first = stderr.split('\n')[0] ?? ''
  return new CniError(ErrorCode.Internal, `${what} failed${first ? `: ${first}` : ''}`, {
    details: `${stderr}\n--- script ---\n${script}`,
    cause: err,
  })
}

/** CHECK's error when rules of the intent are missing: the first one named, every one in `details`. */
export function missingRulesError(intent: FirewallIntent, backend: string, missing: readonly string[]): CniError {
  const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''
  if (intent.kind === 'localnet-drop') {
    return new CniError(ErrorCode.Internal, `the ${backend}loopback drop (packets to 127.0.0.0/8 not from lo) is missing: ${missing[0]}${more}`, { details: missing.join('\n') })
  }
  const what = intent.kind === 'masquerade' ? 'ipMasq' : 'portmap'
  return new CniError(ErrorCode.Internal, `${what} ${backend}rules for container ${intent.owner.containerId} on network "${intent.owner.network}" are missing: ${missing[0]}${more}`, { details: missing.join('\n') })
}
