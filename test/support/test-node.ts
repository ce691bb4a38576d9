// The per-test "node" of an integration test: a throwaway host namespace, a bin dir and a host-local data dir,
// made before each test and removed after it (also when it fails), with whatever else the test defers.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach } from 'vitest'
import { makeBinDir, makeDataDir } from './bridge.ts'
import { NetnsPool, type TestNetns } from './netns.ts'

/** What each test of the file gets; read the fields inside tests or hooks, never at collection time. */
export interface TestNode {
  /** Creates more namespaces (containers); all are removed after the test. */
  readonly pool: NetnsPool
  readonly host: TestNetns
  /** CNI_PATH: tscni under every role name. */
  readonly bin: string
  readonly dataDir: string
  /** A state dir of the test's own for attachment records (`<dataDir>/state`, made empty before the test). */
  readonly stateDir: string
  /** Runs the functions after the test, last deferred first, before the namespaces are removed. */
  defer(...fns: Array<() => void>): void
}

/** Registers the hooks of a test file and returns the node its tests use. */
export function useTestNode(): TestNode {
  const pool = new NetnsPool()
  const cleanups: Array<() => void> = []
  let current: { host: TestNetns; bin: string; dataDir: string } | undefined
  beforeEach(async () => {
    const host = await pool.create('tscni-h')
    const b = makeBinDir()
    const d = makeDataDir()
    mkdirSync(join(d.dir, 'state'))
    cleanups.push(b.cleanup, d.cleanup)
    current = { host, bin: b.dir, dataDir: d.dir }
  })
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) c()
    await pool.cleanup()
    current = undefined
  })
  const now = () => {
    if (!current) throw new Error('the test node exists only inside a test')
    return current
  }
  return {
    pool,
    get host() { return now().host },
    get bin() { return now().bin },
    get dataDir() { return now().dataDir },
    get stateDir() { return join(now().dataDir, 'state') },
    defer: (...fns) => void cleanups.push(...fns),
  }
}
