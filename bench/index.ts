/**
 * `npm run bench`: runs every benchmark script in this folder one after the other, each in its
 * own process (so one bench's heap or sockets never skew the next), and prints their tables.
 * Pass names to run a subset (`npm run bench -- render smtp`), then flags for those scripts.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
// Names first, then flags for the scripts: `npm run bench -- stores --only tick --backends postgres`.
const args = process.argv.slice(2)
const firstFlag = args.findIndex((arg) => arg.startsWith('-'))
const wanted = firstFlag === -1 ? args : args.slice(0, firstFlag)
const flags = firstFlag === -1 ? [] : args.slice(firstFlag)
const scripts = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'index.ts' && !name.startsWith('_'))
  .filter((name) => wanted.length === 0 || wanted.includes(name.replace(/\.ts$/, '')))
  .sort()

let failed = 0
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===\n`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${here}${script}`, ...flags], { stdio: 'inherit' })
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
