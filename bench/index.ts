/**
 * `npm run bench`: runs every benchmark script in this folder one after the other, each in its
 * own process (so one bench's heap or sockets never skew the next), and prints their tables.
 * Pass names to run a subset (`npm run bench -- render smtp`), then flags for those scripts.
 *
 * The scripts run as bundles made here with esbuild, as the package is built (no `keepNames`),
 * not through tsx: tsx names every function it compiles, wrapping each closure made per call in
 * a `__name(…)` call that the published code does not have. The scripts they start in child
 * processes are bundled beside them (see _scripts.ts).
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { BUNDLE_EXTENSION, bundleName } from './_scripts.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const out = fileURLToPath(new URL('../node_modules/.cache/relance-bench/', import.meta.url))
/** Scripts the benches start in child processes. */
const CHILDREN = ['_smtp-sink.ts', '../test/workers/worker.ts']
// Names first, then flags for the scripts: `npm run bench -- stores --only tick --backends postgres`.
const args = process.argv.slice(2)
const firstFlag = args.findIndex((arg) => arg.startsWith('-'))
const wanted = firstFlag === -1 ? args : args.slice(0, firstFlag)
const flags = firstFlag === -1 ? [] : args.slice(firstFlag)
const scripts = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'index.ts' && !name.startsWith('_'))
  .filter((name) => wanted.length === 0 || wanted.includes(name.replace(/\.ts$/, '')))
  .sort()

rmSync(out, { recursive: true, force: true })
await build({
  // One flat folder, named after each script: children are found beside their parent.
  entryPoints: Object.fromEntries([...scripts, ...CHILDREN].map((script) => [bundleName(script), `${here}${script}`])),
  outdir: out,
  outExtension: { '.js': BUNDLE_EXTENSION },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Dependencies load from node_modules, as for a user of the package.
  packages: 'external',
  logLevel: 'warning',
})

let failed = 0
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===\n`)
  const bundle = `${out}${bundleName(script)}${BUNDLE_EXTENSION}`
  const result = spawnSync(process.execPath, [bundle, ...flags], { stdio: 'inherit' })
  if (result.status !== 0) {
    failed++
    console.error(`bench/${script} exited with ${result.status ?? result.signal}`)
  }
}
console.log(`\n${os()}\n`)
process.exit(failed === 0 ? 0 : 1)

function os(): string {
  return `machine: Node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB`
}
