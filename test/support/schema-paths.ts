// Lists the field paths a zod/mini schema accepts ("ipam.ranges[][].subnet"), to check docs against the schemas.

interface Def {
  type: string
  shape?: Record<string, { _zod: { def: Def } }>
  innerType?: { _zod: { def: Def } }
  element?: { _zod: { def: Def } }
  in?: { _zod: { def: Def } }
}

/** Every path under `prefix`: objects contribute their keys, arrays a "[]", wrappers are looked through. */
export function schemaPaths(schema: { _zod: { def: Def } }, prefix: string): string[] {
  const def = schema._zod.def
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
      return schemaPaths(def.innerType!, prefix)
    case 'pipe':
      return schemaPaths(def.in!, prefix)
    case 'array':
      return schemaPaths(def.element!, `${prefix}[]`)
    case 'object':
      return Object.entries(def.shape!).flatMap(([key, child]) => {
        const path = prefix ? `${prefix}.${key}` : key
        return [path, ...schemaPaths(child, path).filter((p) => p !== path)]
      })
    default:
      return [prefix]
  }
}
