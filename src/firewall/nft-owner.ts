// How nftables rules name the attachment that owns them: the reference's H(net)-H(ifname:containerID) hash and
// comment, written by the masquerade rules and by portmap's dispatch jumps alike.
import { shortHash } from '../plugin/ids.ts'
import type { Owner } from './model.ts'

/** H(net)-H(ifname:containerID): the prefix of every comment of this attachment. */
export function nftOwnerHash(owner: Owner): string {
  return `${shortHash(owner.network)}-${shortHash(`${owner.ifname}:${owner.containerId}`)}`
}

/** The reference's rule comment: hash, then the names without double quotes, cut to nft's 128 characters. */
export function nftOwnerComment(owner: Owner): string {
  const strip = (s: string): string => s.replaceAll('"', '')
  const text = `${nftOwnerHash(owner)}, net: ${strip(owner.network)}, if: ${strip(owner.ifname)}, id: ${strip(owner.containerId)}`
  return Buffer.from(text, 'utf8').subarray(0, 128).toString('utf8')
}
