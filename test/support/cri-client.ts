// A small Kubernetes CRI (runtime.v1) client over a unix socket: the calls kubelet makes to start and tear down
// a pod and a container in it, typed for the fields the node tests use (test/support/cri/runtime-v1.proto).
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

const PROTO = fileURLToPath(new URL('./cri/runtime-v1.proto', import.meta.url))

export interface PortMapping {
  protocol?: 'TCP' | 'UDP' | 'SCTP'
  containerPort: number
  hostPort: number
  hostIp?: string
}

/** PodSandboxConfig as kubelet fills it for an ordinary pod (pod network, no host namespaces). */
export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number }
  hostname: string
  logDirectory: string
  portMappings?: PortMapping[]
  labels?: Record<string, string>
  annotations?: Record<string, string>
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: { network?: 'POD' | 'NODE'; pid?: 'POD' | 'CONTAINER' | 'NODE'; ipc?: 'POD' | 'NODE' } } }
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number }
  image: { image: string }
  command?: string[]
  args?: string[]
  envs?: Array<{ key: string; value: string }>
  /** Relative to the sandbox's logDirectory. */
  logPath?: string
}

export interface PodSandboxStatus {
  id: string
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY'
  network: { ip: string; additionalIps: Array<{ ip: string }> } | null
}

export interface ContainerStatus {
  id: string
  state: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN'
  exitCode: number
  reason: string
  message: string
}

/** A connected CRI runtime client. Every call has a deadline, so a hung runtime fails the test instead of stalling it. */
export class CriClient {
  private readonly client: grpc.Client
  private readonly timeoutMs: number

  constructor(socketPath: string, options: { timeoutMs?: number } = {}) {
    const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true })
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } }
    this.client = new pkg.runtime.v1.RuntimeService(`unix://${socketPath}`, grpc.credentials.createInsecure())
    this.timeoutMs = options.timeoutMs ?? 60_000
  }

  version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call('Version', { version: 'v1' })
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ podSandboxId: string }>('RunPodSandbox', { config, runtimeHandler: '' })
    return res.podSandboxId
  }

  async podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    const res = await this.call<{ status: PodSandboxStatus }>('PodSandboxStatus', { podSandboxId, verbose: false })
    return res.status
  }

  /** The sandbox's init (pause) process, from the verbose status containerd's CRI returns (`info.pid`). */
  async sandboxPid(podSandboxId: string): Promise<number> {
    const res = await this.call<{ info: Record<string, string> }>('PodSandboxStatus', { podSandboxId, verbose: true })
    const pid = Number(JSON.parse(res.info.info ?? '{}').pid)
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no sandbox pid in the verbose status of ${podSandboxId}`)
    return pid
  }

  /** Sandbox ids the runtime knows of. */
  async listPodSandboxes(): Promise<string[]> {
    const res = await this.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {})
    return res.items.map((i) => i.id)
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId })
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { podSandboxId })
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig })
    return res.containerId
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call('StartContainer', { containerId })
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    const res = await this.call<{ status: ContainerStatus }>('ContainerStatus', { containerId, verbose: false })
    return res.status
  }

  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.call('StopContainer', { containerId, timeout: timeoutSeconds })
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call('RemoveContainer', { containerId })
  }

  close(): void {
    this.client.close()
  }

  private call<T = unknown>(method: string, request: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void>)[method]!
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${method} failed: ${err.details || err.message}`, { cause: err }))
        else resolve(res)
      })
    })
  }
}
