/**
 * Where a bench finds the scripts it starts in child processes (the SMTP sink, the workers).
 *
 * `npm run bench` runs bundles of the benches (bench/index.ts builds them): the child is then the
 * bundle of that script, beside the running one. A bench run directly from its TypeScript source
 * (`npx tsx bench/stores.ts`) starts the child's source through tsx too.
 */
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'

const bundled = !import.meta.url.endsWith('.ts')

/** A script's bundle: one flat folder, each bundle named after its script (`worker.ts` → `worker.mjs`). */
export const BUNDLE_EXTENSION = '.mjs'
export const bundleName = (source: string): string => basename(source, '.ts')

/** The file and Node flags that start `source` (a path relative to bench/) in a child process. */
export function childScript(source: string): { file: string; execArgv: string[] } {
  if (!bundled) return { file: fileURLToPath(new URL(source, import.meta.url)), execArgv: ['--import', 'tsx'] }
  return { file: fileURLToPath(new URL(`./${bundleName(source)}${BUNDLE_EXTENSION}`, import.meta.url)), execArgv: [] }
}
