// The real System with every command run inside one test namespace, so firewall code meets the real kernel
// without ever touching the machine's own rules.
import { createSystem, type Exec, type System } from '../../src/system/index.ts'
import { createNetfilter } from '../../src/system/netfilter.ts'
import { createLocker } from '../../src/system/lock.ts'

/** A System whose exec (and so netfilter and locker) always runs in `netnsPath`. */
export function systemInNetns(netnsPath: string): System {
  const real = createSystem({ pathEnv: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' })
  const exec: Exec = { run: (cmd, args, options = {}) => real.exec.run(cmd, args, { ...options, netns: netnsPath }) }
  return { ...real, exec, locker: createLocker(exec), netfilter: createNetfilter(exec) }
}
