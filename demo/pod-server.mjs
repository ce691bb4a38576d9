// A pod's tiny HTTP service for the demo: every answer names the instance, so a load balancer's choice is visible.
import { createServer } from 'node:http'

const [port = '8080', id = 'unknown'] = process.argv.slice(2)
createServer((req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end(`My id is ${id}\n`)
}).listen(Number(port), '::', () => process.stdout.write(`listening on ${port}\n`))
