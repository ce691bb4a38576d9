// Run inside a pod namespace: one DNS query with Node's own resolver against one server, printed as JSON.
// Usage: node dns-query.mjs SERVER NAME TYPE (A, AAAA, PTR; for PTR, NAME is the address).
import { promises as dns } from 'node:dns'

const [server, name, type] = process.argv.slice(2)
const resolver = new dns.Resolver({ timeout: 1500, tries: 2 })
resolver.setServers([server])
try {
  const answers = type === 'PTR' ? await resolver.reverse(name) : await resolver.resolve(name, type)
  process.stdout.write(JSON.stringify({ answers }))
} catch (err) {
  process.stdout.write(JSON.stringify({ code: err.code }))
}
