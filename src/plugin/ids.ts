// Deterministic names from (network, container, ifname): chain names, host veth names, rule comments.
// @noble/hashes rather than node:crypto: loading node:crypto costs every call 3-5 ms of start-up (measured with
// process.hrtime around require on Node 24), more than all the hashing a call does; the outputs are the same.
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'

/** Lowercase hex sha512 of the text (UTF-8). */
export function sha512Hex(text: string): string {
  return bytesToHex(sha512(utf8ToBytes(text)))
}

/** Lowercase hex sha256 of the text (UTF-8). */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)))
}

/**
 * The reference's FormatChainName: "CNI-" + prefix + sha512(network + containerID) in hex, cut to 28 characters.
 * ("test","1234") gives CNI-2bbe0c48b91a7d1b8a6753a8. Matching it lets tscni find the reference's chains.
 */
export function formatChainName(network: string, containerId: string, prefix = ''): string {
  return `CNI-${prefix}${sha512Hex(network + containerId)}`.slice(0, 28)
}

/** First 16 hex characters of sha512: the nftables masquerade comment hash (H in the digest). */
export function shortHash(text: string): string {
  return sha512Hex(text).slice(0, 16)
}

/**
 * Host-side veth name: "veth" + 11 hex characters of sha512(network, containerID, ifname). Deterministic, so
 * DEL finds the interface without the container netns; 15 characters is the IFNAMSIZ limit, and 44 bits
 * make a collision between two attachments on one node negligible.
 */
export function hostVethName(network: string, containerId: string, ifname: string): string {
  return `veth${sha512Hex(`${network}\u0000${containerId}\u0000${ifname}`).slice(0, 11)}`
}
