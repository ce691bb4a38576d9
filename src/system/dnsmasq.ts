// Starts, finds and stops dnsmasq(8) servers by their pid file and config path, and reads the host facts they need.
import { promises as fs } from 'node:fs'
import { kill } from 'node:process'
import type { Exec } from './exec.ts'

/** The dnsmasq port. */
export interface Dnsmasq {
  /** The pid of the server started with `confFile`, per its pid file; undefined when it does not run. */
  running(pidFile: string, confFile: string): Promise<number | undefined>
  /**
   * Starts a server detached from the caller: dnsmasq forks into its own session, and where systemd is PID 1 it
   * runs in a transient scope, so stopping the runtime's cgroup does not kill it. Resolves once it is serving
   * (dnsmasq's parent exits only after binding); SystemError with dnsmasq's message otherwise. When systemd-run
   * fails (no D-Bus, say) and no server came up, dnsmasq is started without it.
   */
  start(confFile: string, pidFile: string): Promise<void>
  /** Stops the server of `confFile` (TERM, then KILL after 2 s); succeeds when it is not running. */
  stop(pidFile: string, confFile: string): Promise<void>
  /** `dnsmasq --version`'s first line, or undefined when it cannot run. */
  version(): Promise<string | undefined>
  /** True when the user name exists in the password database (/etc/passwd). */
  userExists(name: string): Promise<boolean>
  /** A text file's content, or undefined when it cannot be read (resolv.conf). */
  readText(path: string): Promise<string | undefined>
}

/** dnsmasq through the command runner; processes are found in /proc. */
export function createDnsmasq(exec: Exec): Dnsmasq {
  const running = async (pidFile: string, confFile: string): Promise<number | undefined> => {
    const text = await fs.readFile(pidFile, 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    if (!Number.isInteger(pid) || pid <= 1) return undefined
    // The pid file belongs to the unprivileged server: trust it only for a dnsmasq running our config file.
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    const argv = cmdline.split('\0')
    return argv.some((a) => a.endsWith('dnsmasq')) && argv.includes(`--conf-file=${confFile}`) ? pid : undefined
  }
  return {
    running,
    async start(confFile, pidFile) {
      const args = ['--conf-file=' + confFile]
      // systemd-run --scope keeps the caller's namespaces (the command is its own child) and moves it into a
      // scope of its own; netavark starts aardvark-dns the same way. Without systemd dnsmasq's own daemon mode
      // (fork, setsid) is all there is.
      if (await systemdIsInit()) {
        const scoped = await exec.run('systemd-run', ['--scope', '--quiet', '--collect', `--description=tscni DNS server (${confFile})`, '--', 'dnsmasq', ...args], { timeoutMs: 10_000 })
          .then(() => true, () => false)
        if (scoped || (await running(pidFile, confFile)) !== undefined) return
      }
      await exec.run('dnsmasq', args, { timeoutMs: 10_000 })
    },
    async stop(pidFile, confFile) {
      const pid = await running(pidFile, confFile)
      if (pid === undefined) return
      signal(pid, 'SIGTERM')
      for (let waited = 0; waited < 2000; waited += 20) {
        if ((await running(pidFile, confFile)) !== pid) return
        await new Promise((r) => setTimeout(r, 20))
      }
      signal(pid, 'SIGKILL')
    },
    async version() {
      const res = await exec.run('dnsmasq', ['--version'], { allowFailure: true }).catch(() => undefined)
      if (!res || res.exitCode !== 0) return undefined
      return res.stdout.split('\n')[0]?.trim()
    },
    async userExists(name) {
      const passwd = await fs.readFile('/etc/passwd', 'utf8').catch(() => '')
      return passwd.split('\n').some((line) => line.startsWith(`${name}:`))
    },
    async readText(path) {
      return fs.readFile(path, 'utf8').catch(() => undefined)
    },
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    kill(pid, sig)
  } catch {
    // already gone
  }
}

// sd_booted(3): systemd is PID 1 exactly when /run/systemd/system/ exists.
async function systemdIsInit(): Promise<boolean> {
  return fs.stat('/run/systemd/system').then((s) => s.isDirectory(), () => false)
}
