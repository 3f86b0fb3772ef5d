import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../src/cli.js'
import { startPreview } from '../../src/cli/preview.js'
import { builtInTemplatesDir } from '../../src/render/renderer.js'

function capture() {
  let out = ''
  const stream = new Writable({ write(chunk, _enc, done) { out += String(chunk); done() } })
  return { io: { stdout: stream, stderr: stream }, text: () => out }
}

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const { io, text } = capture()
  const code = await run(args, io)
  return { code, out: text() }
}

/** A copy of the built-in templates that a test may edit. */
function copyOfBuiltIns(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relance-tpl-'))
  cpSync(builtInTemplatesDir(), dir, { recursive: true })
  return dir
}

describe('relance check', () => {
  it('passes the built-in templates', async () => {
    const { code, out } = await cli(['check'])
    expect(out).toMatch(/relance check: templates OK/)
    expect(code).toBe(0)
  })

  it('reports an unknown variable, broken MJML and a missing locale with file:line and a hint, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relance-broken-'))
    const write = (path: string, text: string) => {
      mkdirSync(join(dir, path, '..'), { recursive: true })
      writeFileSync(join(dir, path), text)
    }
    const reminder = readFileSync(join(builtInTemplatesDir(), 'reminder/fr.mjml'), 'utf8')
    write('reminder/fr.mjml', reminder.replace('{{customer.firstName}}{{/if}},', '{{customer.prenom}}{{/if}},'))
    write('reassurance/fr.mjml', readFileSync(join(builtInTemplatesDir(), 'reassurance/fr.mjml'), 'utf8').replace('<mj-text padding="4px 0">', '<mj-text padding="4px 0" colour="red">'))
    write('promo/fr.mjml', '---\nsubject: "Promo {{shop.name}}"\n---\n<mjml><mj-body><mj-section><mj-column><mj-text>Promo <img src="https://cdn.example/x.png"></mj-text></mj-column></mj-section></mj-body></mjml>\n')
    const { code, out } = await cli(['check', dir])
    expect(code).toBe(1)
    const line = reminder.split('\n').findIndex((l) => l.includes('{{customer.firstName}}{{/if}},')) + 1
    expect(out).toContain(`reminder/fr.mjml:${line}: error: unknown variable "customer.prenom"`)
    expect(out).toMatch(/reassurance\/fr\.mjml:\d+: error: MJML: .*colour/)
    expect(out).toContain('promo/en.mjml:1: error: missing locale: promo has no en.mjml')
    expect(out).toMatch(/promo\/fr\.mjml:1: error: no unsubscribe link/)
    expect(out).toMatch(/promo\/fr\.mjml:1: error: an image has no alt text/)
    expect(out).toContain('hint: ')
    expect(out).toMatch(/relance check: \d+ errors/)
  })

  it('answers an unknown command with the usage and exit code 2', async () => {
    const { code, out } = await cli(['chekc'])
    expect(code).toBe(2)
    expect(out).toContain('unknown command "chekc"')
    expect(out).toContain('relance check [templatesDir]')
  })
})

describe('relance preview in Chromium', () => {
  let browser: Browser
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('shows every template × locale × sample, then a saved change within a second, and a compile error with its line', async () => {
    const dir = copyOfBuiltIns()
    const preview = await startPreview({ dir, port: 0 })
    try {
      const page = await browser.newPage()
      // Offline machine: anything outside the preview server (sample product images) is refused.
      await page.route('**/*', (route) => (route.request().url().startsWith(preview.url) ? route.continue() : route.abort()))
      await page.goto(preview.url, { waitUntil: 'domcontentloaded' })
      // 3 templates × 2 locales × 4 sample carts, each at two widths.
      expect(await page.locator('section.email').count()).toBe(24)
      expect(await page.locator('iframe.mobile').count()).toBe(24)
      await expect.poll(() => page.locator('section[data-id="reminder/fr/one-item"] .subject').innerText()).toBe('Camille, votre panier vous attend chez Maison Dupont')
      const frame = page.frameLocator('section[data-id="reminder/fr/one-item"] iframe.desktop')
      await expect.poll(() => frame.locator('body').innerText(), { timeout: 10_000 }).toContain('Bonjour Camille')
      expect(await page.locator('section[data-id="reminder/fr/sixty-items"] .text').textContent()).toContain('et 52 autres articles')

      // A marketer saves a change: the page reloads by itself and shows it.
      const file = join(dir, 'reminder/fr.mjml')
      const source = readFileSync(file, 'utf8')
      writeFileSync(file, source.replace('Bonjour{{#if', 'Bienvenue{{#if').replace('vous attend chez', 'vous espère chez'))
      await page.waitForFunction(`document.querySelector('section[data-id="reminder/fr/one-item"] .subject')?.textContent?.includes('vous espère')`, null, { timeout: 5_000 })
      const changed = page.frameLocator('section[data-id="reminder/fr/one-item"] iframe.desktop')
      await expect.poll(() => changed.locator('body').innerText(), { timeout: 10_000 }).toContain('Bienvenue Camille')

      // A broken save shows the error and where it is; fixing it brings the emails back.
      writeFileSync(file, source.replace('{{customer.firstName}}{{/if}},', '{{customer.prenom}}{{/if}},'))
      await page.waitForSelector('#error', { timeout: 5_000 })
      expect(await page.locator('#error').innerText()).toMatch(/reminder\/fr\.mjml:\d+: unknown variable "customer\.prenom"/)
      writeFileSync(file, source)
      await page.waitForSelector('section.email', { timeout: 5_000 })
      await page.close()
    } finally {
      await preview.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a marketer edits a template while the shop runs', () => {
  it('the next tick sends the saved version; a broken save is reported and the previous version keeps sending', async () => {
    const { setup, consentingShopper, ITEMS } = await import('../helpers/engine.js')
    const dir = copyOfBuiltIns()
    try {
      const { relance, clock, transport } = setup({ templates: dir })
      const errors: { during: string; error: Error }[] = []
      relance.on('error', (event) => errors.push(event))
      const abandon = async (n: number) => {
        await consentingShopper(relance, n, { firstName: 'Camille', locale: 'fr' })
        await relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
      }
      await abandon(1)
      clock.advance({ hours: 1 })
      await relance.tick()
      expect(transport.messages.at(-1)!.subject).toBe('Camille, votre panier vous attend chez Maison Dupont')

      const file = join(dir, 'reminder/fr.mjml')
      const source = readFileSync(file, 'utf8')
      writeFileSync(file, source.replace('vous attend chez', 'vous espère chez'))
      await abandon(2)
      clock.advance({ hours: 1 })
      await relance.tick()
      expect(transport.messages.at(-1)!.subject).toBe('Camille, votre panier vous espère chez Maison Dupont')

      writeFileSync(file, source.replace('{{customer.firstName}}{{/if}},', '{{customer.prenom}}{{/if}},'))
      await abandon(3)
      clock.advance({ hours: 1 })
      await relance.tick()
      expect(errors).toHaveLength(1)
      expect(errors[0]!.during).toBe('templates')
      expect(errors[0]!.error.message).toMatch(/reminder\/fr\.mjml:\d+: unknown variable "customer\.prenom"/)
      expect(transport.messages.at(-1)!.subject).toBe('Camille, votre panier vous espère chez Maison Dupont')
      // The same broken state is reported once, not at every tick.
      await relance.tick()
      expect(errors).toHaveLength(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
