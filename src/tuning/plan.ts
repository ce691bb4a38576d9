// tuning's plans (pure): what to back up from the link as it is, the link and sysctl changes for ADD, the ones that
// undo them at DEL, and what CHECK finds different.
import type { IpLink, IpOp, SysctlWrite } from '../system/index.ts'
import type { TuningConfig } from './config.ts'

/**
 * The backup file's content: the reference's `configToRestore` fields (plugins/meta/tuning/tuning.go), so either
 * implementation restores the other's, plus `sysctl` (originals by /proc/sys path), which the reference ignores.
 */
export interface TuningBackup {
  mac?: string
  promisc?: boolean
  mtu?: number
  allmulti?: boolean
  txQLen?: number
  sysctl?: Record<string, string>
}

/** True when ADD changes the link itself (not only sysctls). */
export function changesLink(c: TuningConfig): boolean {
  return c.mac !== undefined || c.promisc || c.mtu !== undefined || c.allmulti !== undefined || c.txQLen !== undefined
}

/** The originals of everything ADD will change; sysctl values that could not be read are not backed up. */
export function backupOf(c: TuningConfig, link: IpLink, sysctlValues: ReadonlyArray<string | undefined>): TuningBackup {
  const sysctl: Record<string, string> = {}
  c.sysctls.forEach((s, i) => {
    const v = sysctlValues[i]
    if (v !== undefined) sysctl[s.path] = v
  })
  return {
    ...(c.mac !== undefined ? { mac: link.address } : {}),
    ...(c.promisc ? { promisc: link.flags.includes('PROMISC') } : {}),
    ...(c.mtu !== undefined ? { mtu: link.mtu } : {}),
    ...(c.allmulti !== undefined ? { allmulti: link.flags.includes('ALLMULTI') } : {}),
    ...(c.txQLen !== undefined && link.txqlen !== undefined ? { txQLen: link.txqlen } : {}),
    ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
  }
}

/** ADD's changes: the sysctls first, then one link change (the reference's order: sysctls, then the link). */
export function addChanges(c: TuningConfig, ifname: string): { ops: IpOp[]; sysctls: SysctlWrite[] } {
  const ops: IpOp[] = changesLink(c)
    ? [{
      op: 'link-set', name: ifname,
      ...(c.mac !== undefined ? { address: c.mac } : {}),
      ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
      ...(c.promisc ? { promisc: true } : {}),
      ...(c.allmulti !== undefined ? { allmulti: c.allmulti } : {}),
      ...(c.txQLen !== undefined ? { txqlen: c.txQLen } : {}),
    }]
    : []
  return { ops, sysctls: c.sysctls.map((s) => ({ key: s.path, value: s.value })) }
}

/** DEL's changes from a backup (ours or the reference's). Sysctl restores are best effort (optional writes). */
export function restoreChanges(b: TuningBackup, ifname: string): { ops: IpOp[]; sysctls: SysctlWrite[] } {
  const link = {
    ...(b.mac ? { address: b.mac } : {}),
    ...(b.mtu ? { mtu: b.mtu } : {}),
    ...(b.promisc !== undefined ? { promisc: b.promisc } : {}),
    ...(b.allmulti !== undefined ? { allmulti: b.allmulti } : {}),
    ...(b.txQLen !== undefined ? { txqlen: b.txQLen } : {}),
  }
  const ops: IpOp[] = Object.keys(link).length > 0 ? [{ op: 'link-set', name: ifname, ...link }] : []
  return { ops, sysctls: Object.entries(b.sysctl ?? {}).map(([key, value]) => ({ key, value, optional: true })) }
}

/** CHECK: every configured value against the link and the sysctls as the namespace shows them (the reference's messages). */
export function checkProblems(c: TuningConfig, ifname: string, link: IpLink, sysctlValues: ReadonlyArray<string | undefined>): string[] {
  const problems: string[] = []
  c.sysctls.forEach((s, i) => {
    const now = sysctlValues[i]
    if (now !== s.value) problems.push(`Tuning configured value of /proc/sys/${s.path} is ${s.value}, current value is ${now ?? '(unreadable)'}`)
  })
  if (c.mac !== undefined && c.mac !== link.address.toLowerCase()) problems.push(`Tuning configured Ethernet of ${ifname} is ${c.mac}, current value is ${link.address}`)
  const promisc = link.flags.includes('PROMISC')
  if (promisc !== c.promisc) problems.push(`Tuning link ${ifname} configured promisc is ${c.promisc}, current value is ${promisc}`)
  if (c.mtu !== undefined && c.mtu !== link.mtu) problems.push(`Tuning configured MTU of ${ifname} is ${c.mtu}, current value is ${link.mtu}`)
  const allmulti = link.flags.includes('ALLMULTI')
  if (c.allmulti !== undefined && c.allmulti !== allmulti) problems.push(`Tuning configured all-multicast mode of ${ifname} is ${c.allmulti}, current value is ${allmulti}`)
  if (c.txQLen !== undefined && c.txQLen !== link.txqlen) problems.push(`Tuning configured Transmit Queue Length of ${ifname} is ${c.txQLen}, current value is ${link.txqlen ?? 'unknown'}`)
  return problems
}
