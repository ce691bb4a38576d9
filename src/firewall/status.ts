// STATUS of a role whose ADD installs firewall rules and writes an attachment record (portmap, firewall): code 50
// when the backend it would use is not usable here or its records cannot be written.
import type { AttachmentRecords } from '../plugin/attachment-record.ts'
import { CniError, ErrorCode, normalizeError } from '../plugin/errors.ts'
import type { BackendName } from './backend.ts'
import type { Firewall } from './select.ts'

/** Throws code 50 (spec "STATUS") naming what keeps an ADD from succeeding now. */
export async function assertFirewallRoleReady(firewall: Firewall, wanted: BackendName | undefined, records: AttachmentRecords | undefined, stateDir: string | undefined): Promise<void> {
  const probe = await firewall.probe()
  const ok = wanted ? probe[wanted] : probe.iptables || probe.nftables
  if (!ok) {
    throw new CniError(ErrorCode.NotAvailable, wanted ? `the configured firewall backend ${wanted} is not usable here` : 'no usable firewall backend: neither iptables nor nftables works here')
  }
  try {
    records?.assertWritable(stateDir)
  } catch (err) {
    throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${normalizeError(err).message}`, { cause: err })
  }
}
