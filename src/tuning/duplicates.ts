// The reference refuses a tuning config whose `sysctl` object names a key twice; JSON.parse keeps only the last, so
// the raw text is scanned for them (pure).

/**
 * Keys that appear twice in a top-level `sysctl` object of the raw stdin (JSON.parse keeps only the last). The
 * reference refuses them ("duplicated sysctl keys are not allowed"); any key matching "sysctl" as Go folds it counts.
 */
export function duplicateSysctlKeys(stdin: string): string[] {
  const seen = new Set<string>()
  const dups: string[] = []
  const s = new JsonScanner(stdin)
  s.ws()
  if (s.peek() !== '{') return []
  s.objectEntries((key) => {
    if (key.toLowerCase().replace(/\u017f/g, 's').replace(/\u212a/g, 'k') !== 'sysctl' || s.peek() !== '{') return s.skipValue()
    s.objectEntries((inner) => {
      if (seen.has(inner)) dups.push(inner)
      seen.add(inner)
      s.skipValue()
    })
  })
  return dups
}

// A minimal scanner over JSON text that is already known to parse (decodeNetConf ran first): keys and skips only.
class JsonScanner {
  private i = 0
  private readonly t: string
  constructor(text: string) {
    this.t = text
  }
  peek(): string {
    return this.t[this.i] ?? ''
  }
  ws(): void {
    while (/\s/.test(this.peek())) this.i++
  }
  string(): string {
    const start = this.i
    this.i++
    while (this.i < this.t.length && this.t[this.i] !== '"') this.i += this.t[this.i] === '\\' ? 2 : 1
    this.i++
    return JSON.parse(this.t.slice(start, this.i)) as string
  }
  objectEntries(onEntry: (key: string) => void): void {
    this.i++ // {
    this.ws()
    while (this.peek() !== '}' && this.i < this.t.length) {
      const key = this.string()
      this.ws()
      this.i++ // :
      this.ws()
      onEntry(key)
      this.ws()
      if (this.peek() === ',') this.i++
      this.ws()
    }
    this.i++
  }
  skipValue(): void {
    this.ws()
    const c = this.peek()
    if (c === '"') {
      this.string()
      return
    }
    if (c === '{' || c === '[') {
      let depth = 0
      do {
        const d = this.peek()
        if (d === '"') {
          this.string()
          continue
        }
        if (d === '{' || d === '[') depth++
        if (d === '}' || d === ']') depth--
        this.i++
      } while (depth > 0 && this.i < this.t.length)
      return
    }
    while (this.i < this.t.length && !/[,}\]\s]/.test(this.peek())) this.i++
  }
}
