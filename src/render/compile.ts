/**
 * Compiling one template × locale, once: front matter → partials inlined → Handlebars protected
 * from MJML → MJML → Handlebars restored → one Handlebars function for the HTML, one for the
 * text part (derived from the same HTML), one each for subject and preheader.
 *
 * Why protect: MJML parses its input as XML-ish components and silently drops text it does not
 * expect, such as a bare `{{#each}}` between two `mj-section`s (no error, even in strict mode).
 * Every mustache is therefore swapped for an inert token before MJML runs — wrapped in `mj-raw`
 * where it stands between components — and each token must come out of MJML intact, or the
 * compilation fails naming the file and line of the mustache that was lost.
 */
import { convert, type HtmlToTextOptions } from 'html-to-text'
import mjml2html from 'mjml'
import { RelanceError } from '../errors.js'

/** A line of the expanded source and where it came from. */
export interface Origin {
  file: string
  line: number
}

export interface TemplateSource {
  file: string
  text: string
}

export interface FrontMatter {
  subject: string | null
  preheader: string | null
  /** Line (1-based) of each key, for error messages. */
  lines: Record<string, number>
}

const FRONT_KEYS = new Set(['subject', 'preheader'])

export function templateError(message: string, origin: Origin | null, hint?: string, cause?: unknown): RelanceError {
  const where = origin === null ? '' : `${origin.file}:${origin.line}: `
  return new RelanceError('TEMPLATE_ERROR', `${where}${message}${hint === undefined ? '' : ` (${hint})`}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { ...(origin === null ? {} : { file: origin.file, line: origin.line }), ...(hint === undefined ? {} : { hint }) },
  })
}

/**
 * Splits `---\nsubject: …\npreheader: …\n---` from the body. Values may be quoted ("…" or '…').
 * Returns the body with the front matter lines blanked, so line numbers stay true.
 */
export function parseFrontMatter(source: TemplateSource): { front: FrontMatter; body: string } {
  const lines = source.text.split(/\r?\n/)
  const front: FrontMatter = { subject: null, preheader: null, lines: {} }
  if (lines[0]?.trim() !== '---') return { front, body: source.text }
  const end = lines.findIndex((line, index) => index > 0 && line.trim() === '---')
  if (end < 0) throw templateError('front matter is not closed', { file: source.file, line: 1 }, 'end it with a line "---"')
  for (let index = 1; index < end; index++) {
    const line = lines[index]!
    if (line.trim() === '' || line.trim().startsWith('#')) continue
    const match = /^\s*([\w-]+)\s*:\s*(.*)$/.exec(line)
    const origin = { file: source.file, line: index + 1 }
    if (match === null) throw templateError(`cannot read front matter line ${JSON.stringify(line)}`, origin, 'write key: value')
    const key = match[1]!
    if (!FRONT_KEYS.has(key)) throw templateError(`unknown front matter key "${key}"`, origin, 'known keys: subject, preheader')
    let value = match[2]!.trim()
    if (/^(".*"|'.*')$/.test(value)) value = value.slice(1, -1)
    ;(front as unknown as Record<string, string>)[key] = value
    front.lines[key] = index + 1
  }
  const body = lines.map((line, index) => (index <= end ? '' : line)).join('\n')
  return { front, body }
}

/**
 * Replaces `{{> name}}` by the partial's source, recursively, keeping the origin of every line.
 * A partial used inside a line is inlined in place; its own lines keep their file and line.
 */
export function expandPartials(
  source: TemplateSource & { body?: string },
  partials: ReadonlyMap<string, TemplateSource>,
  stack: string[] = [],
): { text: string; origins: Origin[] } {
  const body = source.body ?? source.text
  const out: string[] = []
  const origins: Origin[] = []
  const lines = body.split(/\r?\n/)
  lines.forEach((line, index) => {
    const origin = { file: source.file, line: index + 1 }
    const re = /\{\{>\s*([\w-]+)\s*\}\}/g
    let last = 0
    let current = ''
    for (let match = re.exec(line); match !== null; match = re.exec(line)) {
      const name = match[1]!
      const partial = partials.get(name)
      if (partial === undefined) throw templateError(`unknown partial "${name}"`, origin, `partials: ${[...partials.keys()].join(', ') || 'none'}`)
      if (stack.includes(name)) throw templateError(`partial "${name}" includes itself`, origin)
      const inner = expandPartials(partial, partials, [...stack, name])
      const innerLines = inner.text.split('\n')
      current += line.slice(last, match.index) + innerLines[0]
      if (innerLines.length > 1) {
        out.push(current)
        origins.push(origin)
        for (let i = 1; i < innerLines.length - 1; i++) {
          out.push(innerLines[i]!)
          origins.push(inner.origins[i]!)
        }
        current = innerLines[innerLines.length - 1]!
      }
      last = match.index + match[0].length
    }
    out.push(current + line.slice(last))
    origins.push(origin)
  })
  return { text: out.join('\n'), origins }
}

/** MJML components whose content is raw HTML: a token there is plain text. */
const RAW_CONTENT = new Set([
  'mj-text', 'mj-button', 'mj-raw', 'mj-table', 'mj-navbar-link', 'mj-accordion-title', 'mj-accordion-text',
  'mj-social-element', 'mj-style', 'mj-title', 'mj-preview', 'mj-font',
])

export interface Protected {
  mjml: string
  /** Original mustache of each token, with where it was written. */
  tokens: { text: string; origin: Origin; block: boolean }[]
}

export const tokenOf = (index: number): string => `hbtok${index}x`
const TOKEN_RE = /hbtok(\d+)x/g

/**
 * Swaps mustaches for tokens. `origins[i]` is the origin of line i of `text`.
 * Handlebars comments are dropped.
 */
export function protect(text: string, origins: Origin[]): Protected {
  const tokens: Protected['tokens'] = []
  let out = ''
  const stack: string[] = []
  let inTag = false
  let line = 0
  let i = 0
  const originAt = () => origins[Math.min(line, origins.length - 1)] ?? { file: '?', line: 0 }
  while (i < text.length) {
    const ch = text[i]!
    if (ch === '\n') {
      line++
      out += ch
      i++
      continue
    }
    if (text.startsWith('{{', i)) {
      const comment = /^\{\{!--[\s\S]*?--\}\}|^\{\{![\s\S]*?\}\}/.exec(text.slice(i))
      const mustache = comment ?? /^\{\{\{[\s\S]*?\}\}\}|^\{\{[\s\S]*?\}\}/.exec(text.slice(i))
      if (mustache === null) throw templateError('a "{{" is never closed', originAt())
      const raw = mustache[0]
      const origin = originAt()
      line += raw.split('\n').length - 1
      i += raw.length
      if (comment !== null) continue
      const inner = raw.replace(/^\{\{\{?~?\s*/, '')
      const block = /^[#/^]|^else\b/.test(inner)
      const top = stack[stack.length - 1]
      const betweenComponents = !inTag && (top === undefined || !RAW_CONTENT.has(top))
      tokens.push({ text: raw, origin, block })
      const token = tokenOf(tokens.length - 1)
      out += betweenComponents && top !== undefined && top !== 'mjml' && top !== 'mj-head' && top !== 'mj-attributes'
        ? `<mj-raw>${token}</mj-raw>`
        : token
      continue
    }
    if (ch === '<' && !inTag) {
      const top = stack[stack.length - 1]
      const insideRaw = top !== undefined && RAW_CONTENT.has(top)
      const close = /^<\/(mj-[\w-]+|mjml)\s*>/.exec(text.slice(i, i + 64))
      if (close !== null) {
        if (!insideRaw || close[1] === top) {
          const at = stack.lastIndexOf(close[1]!)
          if (at >= 0) stack.length = at
        }
        out += close[0]
        i += close[0].length
        continue
      }
      if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i)
        const chunk = end < 0 ? text.slice(i) : text.slice(i, end + 3)
        line += chunk.split('\n').length - 1
        out += chunk
        i += chunk.length
        continue
      }
      const open = /^<(mj-[\w-]+|mjml)\b/.exec(text.slice(i, i + 64))
      if (open !== null && !insideRaw) {
        stack.push(open[1]!)
        inTag = true
        out += open[0]
        i += open[0].length
        continue
      }
      out += ch
      i++
      continue
    }
    if (inTag && ch === '>') {
      if (text[i - 1] === '/') stack.pop()
      inTag = false
    }
    out += ch
    i++
  }
  return { mjml: out, tokens }
}

/** Puts the original mustaches back. */
export function restore(text: string, tokens: Protected['tokens']): string {
  return text.replace(TOKEN_RE, (_whole, index: string) => tokens[Number(index)]!.text)
}

/** Checks that every token came out of a transformation, and blocks exactly once. */
export function assertTokensSurvived(output: string, tokens: Protected['tokens'], stage: string): void {
  const counts = new Map<number, number>()
  for (const match of output.matchAll(TOKEN_RE)) counts.set(Number(match[1]), (counts.get(Number(match[1])) ?? 0) + 1)
  tokens.forEach((token, index) => {
    const count = counts.get(index) ?? 0
    if (count === 0 || (token.block && count !== 1)) {
      throw templateError(
        `${token.text} was ${count === 0 ? 'dropped' : 'duplicated'} by ${stage}`,
        token.origin,
        'put block helpers inside an <mj-raw>, <mj-text> or <mj-table>, or around whole components',
      )
    }
  })
}

/** The text-part conversion; the same options serve the precompiled and the per-email paths. */
export const TEXT_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: 'style', format: 'skip' },
    { selector: 'title', format: 'skip' },
    // The hidden preview text (mj-preview) and anything else hidden belongs to the HTML only.
    { selector: 'div[style^="display:none"]', format: 'skip' },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: false, ignoreHref: false, linkBrackets: ['<', '>'] } },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'table', format: 'block' },
    { selector: 'tr', format: 'block' },
    { selector: 'td', format: 'inline' },
    { selector: 'th', format: 'inline' },
  ],
}

/** A line break with the spaces and tabs around it, and any blank lines that follow. */
const LINE_BREAKS = /[ \t]*(\n)[ \t]*(?:(\n)[ \t]*)?(?:\n[ \t]*)*/g

/**
 * Spaces and tabs at both ends of every line dropped, blank-line runs collapsed to one blank line:
 * part of the definition of the text part. One pass over the text, as it runs for every email.
 */
export function tidyText(text: string): string {
  return text.replace(LINE_BREAKS, '$1$2').trim()
}

/** The per-email conversion (the reference the precompiled text part must equal). */
export function htmlToText(html: string): string {
  return tidyText(convert(html, TEXT_OPTIONS))
}

export interface CompiledSources {
  /** Handlebars source of the HTML (tokens restored). */
  html: string
  /** Handlebars source of the text part (tokens restored, not yet tidied). */
  text: string
  /** Size of the compiled HTML without the dynamic values (for `check`). */
  staticBytes: number
}

/**
 * Runs MJML on a protected document and derives the HTML and text Handlebars sources.
 * `validationLevel: 'strict'` turns MJML validation errors into a TEMPLATE_ERROR with the line.
 */
export async function compileMjml(expanded: { text: string; origins: Origin[] }): Promise<CompiledSources> {
  const guarded = protect(expanded.text, expanded.origins)
  let result
  try {
    result = await mjml2html(guarded.mjml, { validationLevel: 'strict', keepComments: false })
  } catch (error) {
    const first = (error as { errors?: { line?: number; message?: string }[] }).errors?.[0]
    const origin = first?.line === undefined ? expanded.origins[0] ?? null : expanded.origins[first.line - 1] ?? null
    throw templateError(`MJML: ${first?.message ?? (error as Error).message}`, origin, undefined, error)
  }
  if (result.errors.length > 0) {
    const first = result.errors[0]!
    throw templateError(`MJML: ${first.message}`, expanded.origins[first.line - 1] ?? null)
  }
  assertTokensSurvived(result.html, guarded.tokens, 'MJML')
  const textWithTokens = convert(result.html, TEXT_OPTIONS)
  // Tokens inside attributes or skipped elements (images, the head) are absent from the text on
  // purpose. A block helper split between text and an attribute would not compile: the caller
  // compiles the text source and reports that.
  return {
    html: restore(result.html, guarded.tokens),
    text: restore(textWithTokens, guarded.tokens),
    staticBytes: Buffer.byteLength(result.html.replace(TOKEN_RE, '')),
  }
}
