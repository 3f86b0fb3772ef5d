import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('../', import.meta.url)

describe('the README never lies', () => {
  it('embeds examples/quickstart.ts verbatim, and that file runs and sends the first reminder', async () => {
    const readme = await readFile(new URL('README.md', root), 'utf8')
    const example = await readFile(new URL('examples/quickstart.ts', root), 'utf8')
    expect(readme).toContain('```ts\n' + example + '```')
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], { cwd: root, timeout: 60_000 })
    expect(stdout).toMatch(/sent: 1/)
    expect(stdout).toContain('Camille')
  })
})
