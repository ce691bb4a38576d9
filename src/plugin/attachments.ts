// The GC input every role reads: the attachments the runtime still considers valid (spec 1.1 GC).
import * as z from 'zod/mini'
import { goField } from '../decode/go-json.ts'
import { parseConfigPart } from './config.ts'

/** An entry of `cni.dev/valid-attachments`, with the spec's field names. */
export interface ValidAttachment {
  readonly containerID: string
  readonly ifname: string
}

const attachmentsSchema = z.array(z.object({ containerID: z.string(), ifname: z.string() }))

/**
 * `cni.dev/valid-attachments`, or the older `cni.dev/attachments` (libcni sends both). Undefined when neither key
 * is present (or is null): GC then removes nothing. An empty list means no attachment is valid.
 */
export function parseValidAttachments(raw: Readonly<Record<string, unknown>>): ValidAttachment[] | undefined {
  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    const value = goField(raw, key)
    if (value === undefined) continue
    return parseConfigPart(attachmentsSchema, value, key)
  }
  return undefined
}
