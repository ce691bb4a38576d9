// Logging of a retried step at a sane rate: the first failure, every change of reason, a reminder every interval
// while the reason stays the same, and the recovery. Pure apart from the clock handed in.

/** What a retried step reports to. */
export interface RetryReporter {
  /** One attempt failed (or found nothing yet) for `reason`. */
  failed(reason: string): void
  /** An attempt succeeded; logs the recovery when earlier attempts failed. */
  succeeded(): void
}

/** Where the reporter writes: warnings while failing, info on recovery. */
export interface RetrySink {
  warn(msg: string): void
  info(msg: string): void
}

/** A reporter for `what` ("the cluster config"); a reminder at most every `everyMs` while the reason is unchanged. */
export function retryReporter(sink: RetrySink, what: string, o: { everyMs?: number; now?: () => number } = {}): RetryReporter {
  const everyMs = o.everyMs ?? 10_000
  const now = o.now ?? Date.now
  let attempts = 0
  let since = 0
  let lastReason: string | undefined
  let lastLogged = 0
  return {
    failed(reason) {
      const t = now()
      attempts++
      if (attempts === 1) {
        since = t
        sink.warn(`waiting for ${what}: ${reason}`)
      } else if (reason !== lastReason) {
        sink.warn(`waiting for ${what} (attempt ${attempts}, ${seconds(t - since)}): ${reason}`)
      } else if (t - lastLogged >= everyMs) {
        sink.warn(`still waiting for ${what} (attempt ${attempts}, ${seconds(t - since)}): ${reason}`)
      } else {
        lastReason = reason
        return
      }
      lastReason = reason
      lastLogged = t
    },
    succeeded() {
      if (attempts > 0) sink.info(`got ${what} after ${seconds(now() - since)} (${attempts + 1} attempts)`)
      attempts = 0
      lastReason = undefined
    },
  }
}

/** Warnings of repeated passes, each logged once: when it first appears or changes, not at every pass. */
export interface ChangedWarnings {
  /** Starts a pass. */
  begin(): void
  /** A warning of this pass: logged unless the previous pass had it too. */
  warn(msg: string): void
  /** Ends the pass: what it warned is what the next one compares with. */
  end(): void
}

/**
 * Warnings logged once per key and change (a warning names its key and value, so a changed value is a new line),
 * at most `maxPerPass` new lines per pass and then one line with how many more there were.
 */
export function changedWarnings(sink: { warn(msg: string): void }, maxPerPass = 20): ChangedWarnings {
  let previous = new Set<string>()
  let current = new Set<string>()
  let logged = 0
  let unlogged = 0
  return {
    begin() {
      current = new Set()
      logged = 0
      unlogged = 0
    },
    warn(msg) {
      if (current.has(msg)) return
      current.add(msg)
      if (previous.has(msg)) return
      if (logged < maxPerPass) {
        logged++
        sink.warn(msg)
      } else unlogged++
    },
    end() {
      if (unlogged > 0) sink.warn(`... and ${unlogged} more new warning(s) this pass (tscni node status lists the peers left out)`)
      previous = current
      current = new Set()
    },
  }
}

/** An error's message for a log line. */
export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}
