// Names the firewall role splices into iptables-restore and nft scripts, and the patterns they must match.

/** An iptables chain name as the config may give it (iptablesAdminChainName): no spaces, quotes or separators. */
export const CHAIN_NAME = /^[A-Za-z0-9_.:-]{1,28}$/

/**
 * A Linux interface name (at most 15 bytes, no '/', ':' or white space); narrower here, since it is written into
 * nft and iptables-restore scripts unquoted: letters, digits and `_ . - @ +`.
 */
export const IFNAME = /^[A-Za-z0-9_.@+-]{1,15}$/
