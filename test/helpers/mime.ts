/** Reading raw RFC 5322 messages in tests: what actually went over the wire, not what a parser made of it. */
import { simpleParser, type ParsedMail } from 'mailparser'

/** The header section of a raw message, as received. */
export function headerSection(raw: Buffer): string {
  const text = raw.toString('latin1')
  return text.slice(0, text.indexOf('\r\n\r\n') + 2)
}

/** One unfolded header value read from the raw bytes (the first occurrence), or undefined. */
export function rawHeader(raw: Buffer, name: string): string | undefined {
  const unfolded = headerSection(raw).replace(/\r\n(?=[ \t])/g, '')
  const line = unfolded.split('\r\n').find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line?.slice(name.length + 1).trim()
}

/** The body parts of a top-level multipart message, each read by mailparser on its own. */
export async function mimeParts(parsed: ParsedMail, raw: Buffer): Promise<ParsedMail[]> {
  const contentType = parsed.headers.get('content-type') as { value: string; params: { boundary?: string } }
  const boundary = contentType.params.boundary
  if (boundary === undefined) throw new Error(`not multipart: ${contentType.value}`)
  const sections = raw.toString('latin1').split(`\r\n--${boundary}`)
  // Between the first delimiter and the closing `--boundary--`: the parts.
  const parts = sections.slice(1).filter((section) => !section.startsWith('--'))
  return Promise.all(parts.map((part) => simpleParser(Buffer.from(part.replace(/^\r\n/, ''), 'latin1'))))
}
