// The only place that prints diagnostics: a leveled logger over a stream main.ts hands in (stderr).

/** Log levels in increasing verbosity. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 }

/** Diagnostics for people: never written to stdout, which is the protocol. */
export interface Logger {
  error(msg: string): void
  warn(msg: string): void
  info(msg: string): void
  debug(msg: string): void
}

/** A logger that prefixes each line with the role and drops lines above `level`. */
export function createLogger(write: (line: string) => void, prefix: string, level: LogLevel): Logger {
  const at = (lvl: LogLevel) => (msg: string): void => {
    if (RANK[lvl] <= RANK[level]) write(`${prefix} ${lvl}: ${msg}\n`)
  }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

/** Level from TSCNI_LOG_LEVEL; warnings only by default, since runtimes copy stderr into their logs. */
export function levelFromEnv(value: string | undefined): LogLevel {
  return value !== undefined && value in RANK ? (value as LogLevel) : 'warn'
}

/** A logger that discards everything (tests, and the delegate's nested handlers when asked to be quiet). */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} }
