// A small argument parser for the command-line tool: `--name value`, `--name=value` and boolean flags.

/** Parsed options. */
export interface ParsedOptions {
  readonly values: Record<string, string>
  readonly flags: Set<string>
}

/** Parses `args` against the allowed options; a string is a usage error naming the bad argument. */
export function parseOptions(args: readonly string[], allowed: { values?: readonly string[]; flags?: readonly string[] }): ParsedOptions | string {
  const values: Record<string, string> = {}
  const flags = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (allowed.flags?.includes(name) && eq === -1) {
      flags.add(name)
    } else if (allowed.values?.includes(name)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
      if (value === undefined || value === '') return `${name} needs a value`
      values[name] = value
    } else {
      return `unknown argument "${arg}"`
    }
  }
  return { values, flags }
}
