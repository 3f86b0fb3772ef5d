/**
 * `relance <command> [...args]`: a thin dispatcher. Each command lives in `cli/<command>.ts` and
 * exports `main(args, io)` returning the exit code, so tests call commands without a process.
 */
import { pathToFileURL } from 'node:url'

export interface CliIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main: (args: string[], io?: CliIo) => Promise<number> }> }> = {
  check: { summary: 'lint every template × locale (exit code 1 on any error)', load: () => import('./cli/check.js') },
  preview: { summary: 'a local page rendering every template × locale with sample carts, reloading on save', load: () => import('./cli/preview.js') },
  report: { summary: 'the recovery and A/B report of a store (--store sqlite:./relance.db | postgres://… | redis://…)', load: () => import('./cli/report.js') },
}

export function usage(): string {
  return [
    'usage: relance <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`),
    '',
    'relance check [templatesDir]',
    'relance preview [templatesDir] [--port 4400]',
    'relance report --store <spec> [--since D] [--until D] [--currency EUR] [--json] [--html report.html]',
  ].join('\n')
}

export async function run(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  if (command === undefined) {
    io.stderr.write(`relance: unknown command "${name}"\n\n${usage()}\n`)
    return 2
  }
  let loaded
  try {
    loaded = await command.load()
  } catch (error) {
    io.stderr.write(`relance ${name}: not available in this build (${(error as Error).message})\n`)
    return 2
  }
  return loaded.main(args, io)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`relance: ${(error as Error).stack ?? String(error)}\n`)
      process.exitCode = 1
    },
  )
}
