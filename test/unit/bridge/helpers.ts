// Shared builders for the bridge unit tests: configs, env, a fake IPAM result.
import { parseBridgeConfig, type BridgeConfig } from '../../../src/bridge/config.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { parseCniArgs } from '../../../src/plugin/env.ts'
import type { Result } from '../../../src/plugin/result.ts'

/** A bridge config from options on top of a minimal 1.0.0 config. */
export function bridgeConfig(extra: Record<string, unknown> = {}, cniArgs = '', version = '1.0.0'): BridgeConfig {
  const conf = decodeNetConf(JSON.stringify({ cniVersion: version, name: 'net1', type: 'bridge', ...extra }), 'ADD')
  return parseBridgeConfig(conf, parseCniArgs(cniArgs))
}

/** An IPAM result as host-local would give it. */
export function ipamResult(ips: Array<{ address: string; gateway?: string }>, routes: Result['routes'] = []): Result {
  return { cniVersion: '1.0.0', ips, routes }
}

/** Deterministic MACs for plans. */
export const MACS = { bridge: '02:00:00:00:00:01', host: '02:00:00:00:00:02', container: '02:00:00:00:00:03', vlanGateway: '02:00:00:00:00:04', vlanGatewayPeer: '02:00:00:00:00:05' }
