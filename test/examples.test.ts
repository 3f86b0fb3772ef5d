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

describe('npm run demo', () => {
  it('tells the cross-device story and writes the emails as .eml and .html files', async () => {
    const { mkdtemp, readdir } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'relance-demo-'))
    const outbox = join(dir, 'outbox')
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/demo.ts', outbox], { cwd: root, timeout: 120_000 })
    expect(stdout).toMatch(/sent "reminder" to camille\.martin@example\.com/)
    expect(stdout).toMatch(/sent "reassurance" to camille\.martin@example\.com/)
    expect(stdout).toMatch(/restores her cart/)
    expect(stdout).toMatch(/recovered: order order-5531, 108,00\s€, credited to "reassurance" \(after a click\)/)
    expect(stdout).not.toMatch(/sent "last-chance"/)
    const files = (await readdir(outbox)).sort()
    expect(files).toEqual([
      '0001-reminder-camille.martin@example.com.eml', '0001-reminder-camille.martin@example.com.html',
      '0002-reassurance-camille.martin@example.com.eml', '0002-reassurance-camille.martin@example.com.html',
    ])
  })
})
