// The `--health-addr IP:PORT` option of long-running commands (`tscni node run`, `tscni reconcile --watch`) and what
// their probes answer. Pure: the server itself (node:http) is in health-server.ts, loaded only when asked for.
import { parseIp } from '../plugin/addr.ts'

/** One probe's answer: `ok` is HTTP 200, otherwise 503; the body is sent as JSON. */
export interface HealthReport {
  readonly ok: boolean
  readonly body: Record<string, unknown>
}

/** The probes a health server answers. */
export interface HealthProbes {
  healthz(): HealthReport | Promise<HealthReport>
  readyz(): HealthReport | Promise<HealthReport>
}

/** Where to listen. */
export interface HealthAddr {
  readonly host: string
  readonly port: number
}

/** Parses `IP:PORT` (`[IPv6]:PORT` for IPv6); a string is a usage error. Port 0 picks a free port. */
export function parseHealthAddr(text: string): HealthAddr | string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text)
  const bad = `--health-addr takes IP:PORT, such as 127.0.0.1:9099 or [::1]:9099 (got "${text}")`
  if (!m) return bad
  const ip = parseIp(m[1]!)
  if (!ip) return bad
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `--health-addr: port must be 0 to 65535 (got "${m[2]}")`
  return { host: m[1]!, port }
}

/**
 * Takes `--health-addr` (and, for the node agent, `--ready-file`) out of an argument list, so the commands' own
 * parsers stay as they are. A string is a usage error.
 */
export function takeHealthArgs(args: readonly string[], names: readonly string[]): { rest: string[]; values: Record<string, string> } | string {
  const rest: string[] = []
  const values: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (!names.includes(name)) {
      rest.push(arg)
      continue
    }
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
    if (value === undefined || value === '') return `${name} needs a value`
    values[name] = value
  }
  return { rest, values }
}
