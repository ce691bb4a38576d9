// Go-compatible decoding: the exact payloads runtimes send, and encoding/json's rules for keys, nulls and numbers.
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { parseBridgeConfig, parseBridgeDelConfig } from '../../../src/bridge/config.ts'
import { decodeWith, goField, goFold, parseJson } from '../../../src/decode/go-json.ts'
import { parseIpamConfig } from '../../../src/ipam/config.ts'
import { formatCidr, formatIp } from '../../../src/plugin/addr.ts'
import { parseValidAttachments } from '../../../src/plugin/attachments.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { parseCniArgs } from '../../../src/plugin/env.ts'
import { decodeResult } from '../../../src/plugin/version.ts'
import { parsePortmapConfig } from '../../../src/portmap/config.ts'
import { errorOf } from '../../support/errors.ts'

const conf = (text: string) => decodeNetConf(text, 'ADD')
const noArgs = parseCniArgs('')

// containerd 1.6 / 2.x (go-cni): PortMapping, IPRanges and DNS are marshalled without JSON tags.
const GO_CNI_PORTMAP = `{"cniVersion":"1.0.0","name":"k8s","type":"portmap","capabilities":{"portMappings":true},
  "runtimeConfig":{"portMappings":[{"HostPort":18380,"ContainerPort":8000,"Protocol":"tcp","HostIP":""}]},
  "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:01"},{"name":"eth0","mac":"aa:bb:cc:dd:ee:02","sandbox":"/var/run/netns/cni-1"}],
    "ips":[{"interface":1,"address":"10.88.0.5/16","gateway":"10.88.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}}`
const GO_CNI_IPRANGES = `{"cniVersion":"1.0.0","name":"k8s","type":"bridge","bridge":"cni0",
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]},
  "runtimeConfig":{"ipRanges":[[{"Subnet":"10.99.0.0/24","RangeStart":"","RangeEnd":"","Gateway":""}]]}}`

describe('payloads real runtimes send', () => {
  it('reads go-cni port mappings with Go field names (HostPort, ContainerPort, Protocol, HostIP)', () => {
    const parsed = parsePortmapConfig(conf(GO_CNI_PORTMAP).raw)
    expect(parsed.mappings).toEqual([{ hostPort: 18380, containerPort: 8000, protocol: 'tcp' }])
    expect(decodeResult(parsed.prevResult, '1.0.0', 'prevResult').ips).toEqual([{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 }])
  })

  it('reads go-cni ipRanges with Go field names, empty strings meaning "not set"', () => {
    const parsed = parseIpamConfig(conf(GO_CNI_IPRANGES), noArgs)
    const ranges = parsed.rangeSets.map((set) => set.map((r) => [formatCidr(r.subnet), formatIp(r.rangeStart), formatIp(r.rangeEnd), formatIp(r.gateway)]))
    expect(ranges).toEqual([[['10.99.0.0/24', '10.99.0.1', '10.99.0.254', '10.99.0.1']], [['10.88.0.0/16', '10.88.0.1', '10.88.255.254', '10.88.0.1']]])
  })

  it('an "IPAM" section with "Type" makes the bridge use IPAM (not an L2 bridge), in ADD and in DEL', () => {
    const text = '{"cniVersion":"1.0.0","name":"n","type":"bridge","IPAM":{"Type":"host-local","Subnet":"10.1.0.0/24"}}'
    expect(parseBridgeConfig(conf(text), noArgs).ipamType).toBe('host-local')
    expect(parseBridgeDelConfig(conf(text)).ipamType).toBe('host-local')
    expect(parseIpamConfig(conf(text), noArgs).rangeSets).toHaveLength(1)
  })

  it('reads every top-level key and nested option case-insensitively (CNIVersion, Name, IsGateway, IPMasq)', () => {
    const c = conf('{"CNIVersion":"0.4.0","Name":"n","Type":"bridge","IsGateway":true,"IPMasq":true,"MTU":1400}')
    expect(c).toMatchObject({ cniVersion: '0.4.0', name: 'n', type: 'bridge' })
    expect(parseBridgeConfig(c, noArgs)).toMatchObject({ isGateway: true, ipMasq: true, mtu: 1400 })
  })

  it('reads a prevResult and a delegated result written with Go field names', () => {
    const result = { CNIVersion: '0.4.0', IPs: [{ Version: '4', Address: '10.0.0.2/24', Gateway: '10.0.0.1', Interface: 0 }], Routes: [{ Dst: '0.0.0.0/0', GW: '10.0.0.1' }], DNS: { Nameservers: ['10.0.0.1'] } }
    expect(decodeResult(result, '1.0.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
      dns: { nameservers: ['10.0.0.1'] },
    })
    expect(decodeResult({ IP4: { IP: '10.0.0.2/24', Routes: [{ Dst: '10.1.0.0/16' }] } }, '0.2.0')).toMatchObject({ ips: [{ address: '10.0.0.2/24' }], routes: [{ dst: '10.1.0.0/16' }] })
  })

  it('reads the GC attachment list and args.cni.ips under any case', () => {
    const c = conf('{"cniVersion":"1.1.0","name":"n","type":"host-local","CNI.dev/Valid-Attachments":[{"ContainerID":"c1","IfName":"eth0"}],"ipam":{"subnet":"10.1.0.0/24"},"Args":{"CNI":{"IPs":["10.1.0.9"]}}}')
    expect(parseValidAttachments(c.raw)).toEqual([{ containerID: 'c1', ifname: 'eth0' }])
    expect(parseIpamConfig(c, noArgs).requested.map(formatIp)).toEqual(['10.1.0.9'])
  })
})

describe("encoding/json's rules", () => {
  const schema = z.object({ hostPort: z.optional(z.int('hostPort must be a whole number')), ratio: z.optional(z.number()), list: z.optional(z.array(z.string())), name: z.optional(z.string()) })
  const decode = (text: string) => decodeWith(schema, parseJson(text))

  it('prefers an exact key, else the case-insensitive one; for several matching keys the last one wins', () => {
    expect(decode('{"HOSTPORT":1}')).toEqual({ ok: true, data: { hostPort: 1 } })
    expect(decode('{"hostPort":1,"HostPort":2}')).toEqual({ ok: true, data: { hostPort: 2 } })
    expect(decode('{"HostPort":2,"hostPort":1}')).toEqual({ ok: true, data: { hostPort: 1 } })
    expect(goField({ ipam: 1, IPAM: 2 }, 'ipam')).toBe(2)
  })

  it('folds the long s and the Kelvin sign like Go, and nothing else that is not ASCII', () => {
    expect(goFold('ho\u017ftPort')).toBe(goFold('hostPort'))
    expect(goFold('\u212aey')).toBe(goFold('key'))
    expect(decode('{"ho\u017ftport":7}')).toEqual({ ok: true, data: { hostPort: 7 } })
    expect(decode('{"hóstPort":7}')).toEqual({ ok: true, data: {} })
  })

  it('treats null as "leave the field as it was"', () => {
    expect(decode('{"hostPort":null,"list":null}')).toEqual({ ok: true, data: {} })
    expect(decode('{"hostPort":5,"HostPort":null}')).toEqual({ ok: true, data: { hostPort: 5 } })
    expect(goField({ ipam: { type: 'x' }, IPAM: null }, 'ipam')).toEqual({ type: 'x' })
  })

  it('refuses an integer written with a fraction or exponent, as Go does, naming the spelling', () => {
    for (const literal of ['8080.0', '8e3', '8.08E3']) {
      const out = decode(`{"hostPort":${literal}}`)
      expect(out).toMatchObject({ ok: false, issue: { path: ['hostPort'], literal } })
    }
    expect(decode('{"ratio":2.0}')).toEqual({ ok: true, data: { ratio: 2 } })
  })

  it('refuses a string where a number is expected and a number where a string is expected', () => {
    expect(decode('{"hostPort":"8080"}')).toMatchObject({ ok: false, issue: { path: ['hostPort'], value: '8080' } })
    expect(decode('{"name":5}')).toMatchObject({ ok: false, issue: { path: ['name'] } })
  })

  it('ignores unknown keys', () => {
    expect(decode('{"other":{"x":1.0},"hostPort":3}')).toEqual({ ok: true, data: { hostPort: 3 } })
  })

  it('a "__proto__" key is an unknown key: it supplies no field through the prototype (Go ignores it too)', () => {
    const out = decode('{"__proto__":{"hostPort":8080,"name":"x"}}')
    expect(out).toEqual({ ok: true, data: {} })
    expect(out.ok && Object.getPrototypeOf(out.data)).toBe(Object.prototype)
    expect(decode('{"__proto__":{"name":"x"},"hostPort":1}')).toEqual({ ok: true, data: { hostPort: 1 } })
  })
})

describe('object keys that name Object.prototype members', () => {
  it('portmap: a mapping whose fields come only from "__proto__" is refused naming the missing field', () => {
    const c = conf('{"cniVersion":"1.0.0","name":"n","type":"portmap","runtimeConfig":{"portMappings":[{"__proto__":{"hostPort":8080,"containerPort":80}}]}}')
    const err = errorOf(() => parsePortmapConfig(c.raw))
    expect(err).toMatchObject({ code: 7 })
    expect(err.message).toMatch(/^invalid runtimeConfig\.portMappings\.0\.hostPort: .*\(missing\)$/)
  })
})

describe('errors for Go-refused numbers through the roles', () => {
  it('portmap: code 7 naming the field and the literal', () => {
    const c = conf('{"cniVersion":"1.0.0","name":"n","type":"portmap","runtimeConfig":{"portMappings":[{"HostPort":8080.0,"ContainerPort":80}]}}')
    const err = errorOf(() => parsePortmapConfig(c.raw))
    expect(err).toMatchObject({ code: 7 })
    expect(err.message).toBe('invalid runtimeConfig.portMappings.0.hostPort: an integer field takes no fraction or exponent (Go refuses it) (got 8080.0)')
  })

  it('bridge: mtu 1500.0 is refused, mtu null is the default', () => {
    expect(errorOf(() => parseBridgeConfig(conf('{"cniVersion":"1.0.0","name":"n","type":"bridge","mtu":1500.0}'), noArgs)).message).toContain('invalid mtu')
    expect(parseBridgeConfig(conf('{"cniVersion":"1.0.0","name":"n","type":"bridge","mtu":null}'), noArgs).mtu).toBe(0)
  })

  it('a later value survives serialisation as the number Go would read', () => {
    expect(JSON.stringify(parseJson('{"x":[1.0,2.5,3e0]}'))).toBe('{"x":[1,2.5,3]}')
  })
})
