/**
 * Where a bench finds the scripts it starts in child processes (the SMTP sink, the workers).
 *
 * `npm run bench` runs bundles of the benches (bench/index.ts builds them): the child is then the
 * bundle of that script, beside the running one. A bench run directly from its TypeScript source
 * (`npx tsx bench/stores.ts`) starts the child's source through tsx too.
 */
import { fileURLToPath } from 'node:url'

const bundled = !import.meta.url.endsWith('.ts')

/** The file and Node flags that start `source` (a path relative to bench/) in a child process. */
export function childScript(source: string): { file: string; execArgv: string[] } {
  if (!bundled) return { file: fileURLToPath(new URL(source, import.meta.url)), execArgv: ['--import', 'tsx'] }
  const name = source.slice(source.lastIndexOf('/') + 1).replace(/\.ts$/, '.mjs')
  return { file: fileURLToPath(new URL(`./${name}`, import.meta.url)), execArgv: [] }
}
