/**
 * `relance check [templatesDir]`: lints every template × locale as the engine will use it (the
 * built-in set overlaid with the folder), renders each with the sample carts, and prints
 * `file:line: error|warning: message` with a hint. Exit code 1 when there is any error.
 */
import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import type { CliIo } from '../cli.js'
import type { RelanceError } from '../errors.js'
import { createTemplateRenderer, type LintUnit } from '../render/renderer.js'
import { SAMPLES, sampleInput } from '../render/samples.js'

export interface Finding {
  level: 'error' | 'warning'
  file: string
  line: number
  message: string
  hint?: string
}

/** Gmail clips messages above ~102 KB; stay clear of it with the largest sample cart. */
const MAX_BYTES = 100 * 1024
const SUBJECT_WARN = 60
const SUBJECT_MAX = 100

function fromError(error: RelanceError, fallbackFile: string): Finding {
  const details = (error.details ?? {}) as { file?: string; line?: number; hint?: string }
  const message = error.message.replace(/^[^:]+:\d+: /, '').replace(/ \([^)]*\)$/, '')
  return { level: 'error', file: details.file ?? fallbackFile, line: details.line ?? 1, message, ...(details.hint === undefined ? {} : { hint: details.hint }) }
}

/** Lints a templates folder (or only the built-ins). Returns the findings, errors first. */
export async function checkTemplates(dir: string | undefined): Promise<Finding[]> {
  let renderer
  try {
    renderer = createTemplateRenderer({ templates: dir })
  } catch (error) {
    return [fromError(error as RelanceError, dir ?? '.')]
  }
  const units: LintUnit[] = await renderer.lint()
  const findings: Finding[] = []
  const allLocales = new Set([...renderer.templates.values()].flat())

  for (const [name, locales] of renderer.templates) {
    for (const locale of allLocales) {
      if (!locales.includes(locale)) {
        const folder = renderer.files.files.get(`${name}/${locales[0]}.mjml`)!.replace(/[^/\\]+$/, '')
        findings.push({ level: 'error', file: `${folder}${locale}.mjml`, line: 1, message: `missing locale: ${name} has no ${locale}.mjml (other templates have it)`, hint: `copy ${locales[0]}.mjml and translate it` })
      }
    }
  }
  for (const locale of allLocales) {
    if (!renderer.files.files.has(`strings/${locale}.json`) && !renderer.files.files.has(`strings/${locale.split('-')[0]}.json`)) {
      findings.push({ level: 'warning', file: `strings/${locale}.json`, line: 1, message: `no strings file for ${locale}: the partials fall back to English`, hint: 'copy strings/en.json and translate it' })
    }
  }

  for (const entry of units) {
    if (entry.error !== null) {
      findings.push(fromError(entry.error, entry.file))
      continue
    }
    const unit = entry.unit!
    const at = (message: string, hint?: string, level: Finding['level'] = 'error'): Finding => ({ level, file: unit.file, line: 1, message, ...(hint === undefined ? {} : { hint }) })
    for (const sample of SAMPLES) {
      const input = sampleInput(sample, unit.name, unit.locale)
      const email = renderer.renderUnit(unit, input)
      const hrefs = [...email.html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/&#x3D;/gi, '=').replace(/&amp;/g, '&'))
      const tag = `(sample "${sample.label}")`
      if (!hrefs.includes(input.unsubscribeUrl)) findings.push(at(`no unsubscribe link ${tag}`, 'add <a href="{{unsubscribeUrl}}">…</a>, e.g. with {{> footer}}'))
      if (!hrefs.includes(input.restoreUrl)) findings.push(at(`no link to restore the cart ${tag}`, 'add <mj-button href="{{restoreUrl}}">…</mj-button>, e.g. with {{> cart}}'))
      for (const img of email.html.matchAll(/<img\b[^>]*>/g)) {
        if (!/\balt="[^"]+"/.test(img[0])) findings.push(at(`an image has no alt text ${tag}: ${img[0].slice(0, 80)}…`, 'add alt="…" (what the image shows; the name of the product)'))
      }
      const bytes = Buffer.byteLength(email.html)
      if (bytes > MAX_BYTES) findings.push(at(`${Math.round(bytes / 1024)} KB of HTML ${tag}: Gmail clips above ~102 KB`, 'show fewer lines or lighter markup'))
      if (email.subject.length > SUBJECT_MAX) findings.push(at(`subject of ${email.subject.length} characters ${tag}`, `keep it under ${SUBJECT_WARN}; inboxes cut it`))
      else if (email.subject.length > SUBJECT_WARN) findings.push(at(`subject of ${email.subject.length} characters ${tag}: "${email.subject}"`, `inboxes show about ${SUBJECT_WARN}`, 'warning'))
      if (email.preheader === '') findings.push(at(`no preheader ${tag}`, 'add "preheader: …" to the front matter', 'warning'))
    }
  }
  // One line per distinct problem, errors first.
  const seen = new Set<string>()
  return findings
    .filter((f) => {
      const key = `${f.level}|${f.file}|${f.line}|${f.message.replace(/ \(sample "[^"]*"\)/, '')}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1))
}

export async function main(args: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: {} })
  } catch (error) {
    io.stderr.write(`relance check: ${(error as Error).message}\nusage: relance check [templatesDir]\n`)
    return 2
  }
  const dir = parsed.positionals[0]
  const findings = await checkTemplates(dir)
  for (const f of findings) {
    io.stdout.write(`${relative(process.cwd(), f.file) || f.file}:${f.line}: ${f.level}: ${f.message}\n${f.hint === undefined ? '' : `  hint: ${f.hint}\n`}`)
  }
  const errors = findings.filter((f) => f.level === 'error').length
  const warnings = findings.length - errors
  io.stdout.write(errors === 0
    ? `relance check: templates OK${warnings > 0 ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}\n`
    : `relance check: ${errors} error${errors > 1 ? 's' : ''}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`)
  return errors === 0 ? 0 : 1
}
