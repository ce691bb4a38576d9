// nft-owner.ts: the reference's owner hash and comment that nftables rules of both kinds carry.
import { describe, expect, it } from 'vitest'
import { shortHash } from '../../../src/plugin/ids.ts'
import { nftOwnerComment, nftOwnerHash } from '../../../src/firewall/nft-owner.ts'

describe('reference owner naming', () => {
  it.each([['unit-test', '6fd94d501e58f0aa'], ['eth0:one', '287fc69eff0574a2'], ['alternate', '82783ef24bdc7036'], ['net1:three', 'acb19d111858e348']])(
    'H(%s) = %s', (text, hash) => expect(shortHash(text)).toBe(hash))
  it('comment: hashes, then names without double quotes, cut to 128', () => {
    expect(nftOwnerComment({ network: 'unit-test', containerId: 'one', ifname: 'eth0' }))
      .toBe('6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one')
    expect(nftOwnerComment({ network: 'a"b', containerId: 'x'.repeat(200), ifname: 'eth0' })).toHaveLength(128)
    expect(nftOwnerComment({ network: 'a"b', containerId: 'c', ifname: 'eth0' })).toContain('net: ab,')
  })
  it('hash: H(net)-H(ifname:containerID), the prefix of the comment', () => {
    expect(nftOwnerHash({ network: 'unit-test', containerId: 'one', ifname: 'eth0' })).toBe('6fd94d501e58f0aa-287fc69eff0574a2')
  })
})
