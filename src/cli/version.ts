// The tscni release version, shown by `tscni version`.

/** Kept in step with package.json by the release process. */
export const TSCNI_VERSION = '0.1.0'
