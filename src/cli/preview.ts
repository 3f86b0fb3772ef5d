/**
 * `relance preview [templatesDir] [--port 4400]`: a local page that renders every template ×
 * locale × sample cart at desktop and mobile widths, with subject, preheader and text part, and
 * reloads within a second when a file in the folder is saved. A template that does not compile
 * shows its error (file:line) instead of the emails.
 */
import { watch, type FSWatcher } from 'node:fs'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import type { CliIo } from '../cli.js'
import { createTemplateRenderer, builtInTemplatesDir, type TemplateRenderer } from '../render/renderer.js'
import { SAMPLES, sampleInput } from '../render/samples.js'

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export interface Preview {
  url: string
  close(): Promise<void>
}

interface State {
  version: number
  renderer: TemplateRenderer | null
  error: string | null
}

async function load(dir: string | undefined, state: State): Promise<void> {
  try {
    const renderer = createTemplateRenderer({ templates: dir })
    await renderer.init()
    state.renderer = renderer
    state.error = null
  } catch (error) {
    state.renderer = null
    state.error = (error as Error).message
  }
  state.version++
}

function page(state: State): string {
  const body: string[] = []
  if (state.error !== null) {
    body.push(`<div class="error" id="error"><strong>This template does not compile</strong><pre>${escape(state.error)}</pre></div>`)
  } else {
    const renderer = state.renderer!
    for (const [name, locales] of renderer.templates) {
      for (const locale of locales) {
        for (const sample of SAMPLES) {
          const id = `${name}/${locale}/${sample.id}`
          const email = renderer.renderUnit(renderer.compiled.get(`${name}/${locale}`)!, sampleInput(sample, name, locale))
          body.push(`<section class="email" data-id="${escape(id)}">
  <h2>${escape(name)} · ${escape(locale)} · ${escape(sample.label)}</h2>
  <p class="meta"><span class="label">Subject</span> <span class="subject">${escape(email.subject)}</span><br><span class="label">Preheader</span> <span class="preheader">${escape(email.preheader)}</span> <span class="size">${(Buffer.byteLength(email.html) / 1024).toFixed(1)} KB</span></p>
  <div class="frames">
    <iframe title="${escape(id)} desktop" class="desktop" src="/email/${id}.html?v=${state.version}" width="680" height="900"></iframe>
    <iframe title="${escape(id)} mobile" class="mobile" src="/email/${id}.html?v=${state.version}" width="375" height="900"></iframe>
    <details><summary>Text part</summary><pre class="text">${escape(email.text)}</pre></details>
  </div>
</section>`)
        }
      }
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>relance preview</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#eef0f3;color:#1f2328}
header{position:sticky;top:0;background:#1f2328;color:#fff;padding:10px 20px;z-index:1}
main{padding:20px}.email{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 24px}
h2{margin:0 0 6px;font-size:16px}.meta{margin:0 0 12px}.label{color:#6b7280;font-size:12px;text-transform:uppercase}
.size{color:#6b7280;margin-left:8px}.frames{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
iframe{border:1px solid #d0d4da;border-radius:6px;background:#fff}pre{white-space:pre-wrap;max-width:520px}
.error{background:#fde8e8;border:1px solid #f5a3a3;border-radius:8px;padding:16px}
</style></head><body data-version="${state.version}">
<header>relance preview · version <span id="version">${state.version}</span> · saves reload this page</header>
<main>${body.join('\n')}</main>
<script>
new EventSource('/events').addEventListener('version', (e) => { if (e.data !== document.body.dataset.version) location.reload() })
</script></body></html>`
}

/** Starts the preview server; `port: 0` picks a free port. */
export async function startPreview(options: { dir?: string | undefined; port?: number; host?: string } = {}): Promise<Preview> {
  const state: State = { version: 0, renderer: null, error: null }
  await load(options.dir, state)
  const clients = new Set<ServerResponse>()
  const notify = () => {
    for (const client of clients) client.write(`event: version\ndata: ${state.version}\n\n`)
  }

  // Editors save in bursts (write, rename, chmod): rebuild once the burst is over.
  let timer: ReturnType<typeof setTimeout> | null = null
  let reloading = Promise.resolve()
  const watcher: FSWatcher = watch(options.dir ?? builtInTemplatesDir(), { recursive: true }, () => {
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      reloading = reloading.then(() => load(options.dir, state)).then(notify)
    }, 100)
  })

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://preview')
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(page(state))
      return
    }
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
      res.write(`event: version\ndata: ${state.version}\n\n`)
      clients.add(res)
      req.on('close', () => clients.delete(res))
      return
    }
    const match = /^\/email\/([\w-]+)\/([\w-]+)\/([\w-]+)\.html$/.exec(url.pathname)
    const unit = match === null ? undefined : state.renderer?.compiled.get(`${match[1]}/${match[2]}`)
    const sample = match === null ? undefined : SAMPLES.find((s) => s.id === match[3])
    if (unit === undefined || sample === undefined || state.renderer === null) {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found')
      return
    }
    const email = state.renderer.renderUnit(unit, sampleInput(sample, unit.name, unit.locale))
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(email.html)
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 4400, options.host ?? '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/`,
    async close() {
      watcher.close()
      if (timer !== null) clearTimeout(timer)
      for (const client of clients) client.end()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export async function main(args: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { port: { type: 'string', default: '4400' }, host: { type: 'string', default: '127.0.0.1' } } })
  } catch (error) {
    io.stderr.write(`relance preview: ${(error as Error).message}\nusage: relance preview [templatesDir] [--port 4400]\n`)
    return 2
  }
  const port = Number(parsed.values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr.write(`relance preview: --port must be a port number (got ${parsed.values.port})\n`)
    return 2
  }
  const preview = await startPreview({ dir: parsed.positionals[0], port, host: parsed.values.host })
  io.stdout.write(`relance preview: ${preview.url} (Ctrl+C to stop)\n`)
  await new Promise<void>((resolve) => process.once('SIGINT', resolve))
  await preview.close()
  return 0
}
