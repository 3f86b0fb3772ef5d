/**
 * A fast path for the Handlebars dialect of our templates: the template's Handlebars AST (parsed by
 * Handlebars itself, whitespace control included) becomes one plain JavaScript function, with
 * `if` / `unless` / `each` / `with` inlined as control flow and our helpers called directly.
 * Handlebars' generated code spends most of its time in runtime machinery (frames, program
 * wrappers, options objects, `lookupProperty`); the work itself is string concatenation. Measured
 * on the built-in templates with a fresh context per email: the HTML 16 → 4.5 µs, the text part
 * with its tidying 18 → 2.7 µs.
 *
 * Handlebars stays the definition: `compileFast` returns `null` for anything outside the subset it
 * understands, and the generated function throws whenever a value leaves the cases it models
 * (a function, a non-array `each` target, a non-own property, a `null` context, a helper error…).
 * The caller then renders with the Handlebars function, which gives the right output or the right
 * error. So the fast function may be stricter than Handlebars, never more lenient, and whenever it
 * returns, its output is Handlebars' output under `COMPILE_OPTIONS` and `RUNTIME_OPTIONS`.
 *
 * Literal text and names are embedded in the generated code with `JSON.stringify` only; template
 * text never becomes code.
 */
import Handlebars from 'handlebars'
import { COMPILE_OPTIONS, HELPER_NAMES } from './helpers.js'

/** The options a delegate is called with (`data` carries `@subject` and `@preheader`). */
export interface FastOptions {
  data?: Record<string, unknown>
  [key: string]: unknown
}

export type FastTemplate = (context: unknown, options?: FastOptions) => string

export interface FastCompileOptions {
  /** As Handlebars' `noEscape`. */
  noEscape?: boolean
  /**
   * Return the text part tidied (`tidyText` in compile.ts: spaces and tabs around line breaks
   * dropped, blank-line runs collapsed to one blank line, trimmed) while it is built, instead of
   * Handlebars' output. Needs `noEscape`.
   */
  tidy?: boolean
}

/** Thrown (never shown) when the fast function leaves what it models: the caller falls back. */
export const FALLBACK: Error = Object.freeze(Object.assign(Object.create(Error.prototype) as Error, { message: 'fast path: fall back to Handlebars' }))

/**
 * Helpers whose contract we know: they read their parameters, `options.hash` and
 * `options.data.root`, nothing else (see helpers.ts), so a small options object serves them.
 */
const PLAIN_HELPERS: ReadonlySet<string> = new Set(HELPER_NAMES)
/** Helpers Handlebars always knows (compiler.js); only the four block ones are inlined. */
const BUILT_IN_HELPERS = new Set(['helperMissing', 'blockHelperMissing', 'each', 'if', 'unless', 'with', 'log', 'lookup'])
const KNOWN_HELPERS: ReadonlySet<string> = new Set([...BUILT_IN_HELPERS, ...Object.keys(COMPILE_OPTIONS.knownHelpers)])
/**
 * Names the prototype-access rules treat specially, that object literals give a meaning, and
 * `_parent` (the link between Handlebars' data frames): left to Handlebars.
 */
const DENIED_NAMES = new Set(['constructor', '__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '_parent'])
/** Sources of the built-in block helpers we inline: an instance that replaced one keeps Handlebars. */
const INLINED = ['if', 'unless', 'each', 'with'] as const
const BUILT_IN_SOURCES = new Map<string, string>(INLINED.map((name) => [name, String(Handlebars.helpers[name])]))

// ---- runtime support, shared by every generated function ----------------------------------------

const hasOwn = Object.prototype.hasOwnProperty
const isEnumerable = Object.prototype.propertyIsEnumerable
const hbEscape = Handlebars.Utils.escapeExpression

/** `@name` outside the names a loop sets: an own enumerable key of the caller's `data`, or fall back. */
function dataProp(data: Record<string, unknown> | undefined, name: string): unknown {
  if (data !== undefined && isEnumerable.call(data, name)) return data[name]
  throw FALLBACK
}

const UNSAFE = /[&<>"'`=]/

/**
 * Handlebars' escaping of a string: same seven characters, same entities. Handlebars runs a regex
 * replace with a callback: about 3× slower on URLs, which carry an `=` or two. (A memo of escaped
 * strings measured slower on fresh contexts with per-email links: hashing costs what it saves.)
 */
function escapeString(text: string): string {
  const first = text.search(UNSAFE)
  if (first < 0) return text
  let out = text.slice(0, first)
  let last = first
  for (let i = first; i < text.length; i++) {
    let entity: string
    switch (text.charCodeAt(i)) {
      case 38: entity = '&amp;'; break
      case 60: entity = '&lt;'; break
      case 62: entity = '&gt;'; break
      case 34: entity = '&quot;'; break
      case 39: entity = '&#x27;'; break
      case 96: entity = '&#x60;'; break
      case 61: entity = '&#x3D;'; break
      default: continue
    }
    if (i > last) out += text.slice(last, i)
    out += entity
    last = i + 1
  }
  return last < text.length ? out + text.slice(last) : out
}

/** Handlebars' escapeExpression: strings (nearly every value) here, anything else by Handlebars. */
function escapeValue(value: unknown): string {
  return typeof value === 'string' ? escapeString(value) : hbEscape(value as string)
}

/** A path printed by an escaped mustache: a function would be called by Handlebars (a lambda). */
function escapePath(value: unknown): string {
  if (typeof value === 'function') throw FALLBACK
  return escapeValue(value)
}

/** A value printed unescaped: `null`/`undefined` print nothing; others stay raw (see `program`). */
function rawValue(value: unknown): unknown {
  return value != null ? value : ''
}

function rawPath(value: unknown): unknown {
  if (typeof value === 'function') throw FALLBACK
  return value != null ? value : ''
}

function noFunction(value: unknown): unknown {
  if (typeof value === 'function') throw FALLBACK
  return value
}

/** `Utils.isEmpty`. */
function isEmpty(value: unknown): boolean {
  return (!value && value !== 0) || (Array.isArray(value) && value.length === 0)
}

// ---- the text part, tidied while it is built ---------------------------------------------------
//
// Tidying is local: every maximal run of spaces, tabs and line breaks that holds a line break
// becomes "\n" (one break) or "\n\n" (more), and the result is trimmed. So the output is built as
// text + pending run: literal text is split once at compile time (leading run, middle already
// tidied, trailing run), values at run time (most have no run at either end and no line break).
// It replaces a regex pass over the whole ~1 KB text part, which cost more than building it.

interface Run {
  /** Line breaks in the run, up to 2 (more print the same). */
  breaks: number
  /** The run's text when it has no line break (spaces and tabs print as they are then). */
  blanks: string
}

/** A literal split around its runs; `middle` is '' when the literal is a run only. */
interface TidyLiteral {
  lead: Run
  middle: string
  trail: Run
}

const isRunChar = (code: number): boolean => code === 32 || code === 9 || code === 10

/** Tidies the runs inside `text` (no trimming): the reference for literals and values with breaks. */
function collapseRuns(text: string): string {
  let out = ''
  let copied = 0
  for (let i = 0; i < text.length; ) {
    if (!isRunChar(text.charCodeAt(i))) {
      i++
      continue
    }
    let end = i
    let breaks = 0
    for (; end < text.length && isRunChar(text.charCodeAt(end)); end++) if (text.charCodeAt(end) === 10) breaks++
    if (breaks > 0) {
      out += text.slice(copied, i) + (breaks === 1 ? '\n' : '\n\n')
      copied = end
    }
    i = end
  }
  return copied === 0 ? text : out + text.slice(copied)
}

function runOf(text: string): Run {
  let breaks = 0
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) breaks++
  return { breaks: Math.min(breaks, 2), blanks: breaks === 0 ? text : '' }
}

function splitLiteral(text: string): TidyLiteral {
  let start = 0
  while (start < text.length && isRunChar(text.charCodeAt(start))) start++
  if (start === text.length) return { lead: runOf(text), middle: '', trail: { breaks: 0, blanks: '' } }
  let end = text.length
  while (isRunChar(text.charCodeAt(end - 1))) end--
  return { lead: runOf(text.slice(0, start)), middle: collapseRuns(text.slice(start, end)), trail: runOf(text.slice(end)) }
}

/**
 * The end of a tidied text: `String.prototype.trim` would remove other white space at either end
 * (a no-break space…); the runs at both ends were never written.
 */
function finishText(out: string, first: number, last: number): string {
  return WHITE_SPACE.test(String.fromCharCode(first)) || WHITE_SPACE.test(String.fromCharCode(last)) ? out.trim() : out
}

/** What `String.prototype.trim` removes: the same WhiteSpace and LineTerminator sets as `\s`. */
const WHITE_SPACE = /^\s$/

/** For the tests. */
export const RUNTIME_FOR_TESTS = { escapeString }

const RUNTIME = { splitLiteral, finishText, hasOwn, getPrototypeOf: Object.getPrototypeOf, ObjectPrototype: Object.prototype, dataProp, escapeValue, escapePath, rawValue, rawPath, noFunction, isEmpty, FALLBACK }

// ---- the AST we read (hbs.AST types are looser than what the parser gives) ----------------------

interface Node { type: string }
interface Program extends Node { body: Node[]; blockParams?: string[] | undefined }
interface Path extends Node { type: 'PathExpression'; data: boolean; depth: number; parts: string[]; original: string }
interface Hash { pairs: { key: string; value: Node }[] }
interface Call extends Node { path: Node; params: Node[]; hash?: Hash | undefined }
interface Mustache extends Call { escaped: boolean }
interface Block extends Call { program?: Program | undefined; inverse?: Program | undefined }
interface Literal extends Node { value: unknown }

/** Why a template is not compiled: the caller keeps Handlebars for it. */
class Unsupported extends Error {}
function unsupported(what: string): never {
  throw new Unsupported(what)
}

const scopedId = (path: Path): boolean => /^\.|this\b/.test(path.original)
/** Handlebars' `simpleId`: one segment, not `this`/`..`/`./`: the only form that can name a helper. */
const simpleId = (path: Path): boolean => path.parts.length === 1 && !scopedId(path) && !path.depth

interface Scope {
  /** Variable holding `this` (Handlebars' depth0), never `null` or `undefined`. */
  ctx: string
  /** Variables for `../` (index 0 is `ctx`), as Handlebars' `depths` when every context is pushed. */
  depths: string[]
  /** The innermost `{{#each}}` iteration: its index and the array length, for `@index` & co. */
  loop: { index: string; length: string } | null
}

class Generator {
  private code: string[] = []
  private count = 0
  readonly helpers: Function[] = []
  private helperVars = new Map<string, string>()
  usesHelpers = false

  constructor(
    private readonly hb: typeof Handlebars,
    private readonly noEscape: boolean,
    /** Handlebars tracks contexts for `../` only when some path uses it (`useDepths`). */
    private readonly usesDepths: boolean,
    /** Append to the tidy state (see `tidyLiteral`) instead of building program values. */
    private readonly tidy: boolean,
  ) {}

  source(): string {
    return this.code.join('\n')
  }

  private emit(line: string): void {
    this.code.push(line)
  }

  private fresh(): string {
    return `v${++this.count}`
  }

  /**
   * A program's value, as Handlebars builds it: one `+` chain over its items, starting from the
   * first item (not from ""). With `noEscape` two numbers in a row add up ("{{a}}{{b}}" with 1 and
   * 2 prints "3" in Handlebars), so the chain keeps the same shape and item order.
   */
  program(program: Program | undefined, scope: Scope): string {
    if (this.tidy) {
      this.tidyProgram(program, scope)
      return ''
    }
    const out = this.fresh()
    if (program === undefined) {
      this.emit(`let ${out} = "";`)
      return out
    }
    if (program.blockParams !== undefined && program.blockParams.length > 0) unsupported('block parameters')
    let first = true
    for (const statement of program.body) {
      const item = this.statement(statement, scope)
      if (item === null) continue
      this.emit(first ? `let ${out} = ${item};` : `${out} += ${item};`)
      first = false
    }
    if (first) this.emit(`let ${out} = "";`)
    return out
  }

  /**
   * A program appended to the tidy text. Appending is concatenation, which is what Handlebars'
   * `+` chain does once it holds a string: only its first two items can differ (two numbers add
   * up). So when both may be non-strings, the second one must find a string before it.
   */
  private tidyProgram(program: Program | undefined, scope: Scope): void {
    if (program === undefined) return
    if (program.blockParams !== undefined && program.blockParams.length > 0) unsupported('block parameters')
    const items = printing(program)
    const guard = items.length >= 2 && mayBeNonString(items[0]!) && mayBeNonString(items[1]!)
    if (guard && (items[0]!.type !== 'MustacheStatement' || items[1]!.type !== 'MustacheStatement')) unsupported('two leading blocks that may print non-strings')
    let position = 0
    let firstIsString = ''
    for (const statement of program.body) {
      if (!items.includes(statement)) continue
      if (statement.type === 'ContentStatement') {
        this.tidyLiteral(splitLiteral((statement as Literal).value as string))
      } else if (statement.type === 'MustacheStatement') {
        const value = this.fresh()
        this.emit(`const ${value} = ${this.mustache(statement as Mustache, scope)};`)
        if (guard && position === 0) {
          firstIsString = this.fresh()
          this.emit(`const ${firstIsString} = typeof ${value} === "string";`)
        }
        if (guard && position === 1) this.emit(`if (!${firstIsString} && typeof ${value} !== "string") throw FALLBACK;`)
        this.tidyValue(`"" + ${value}`)
      } else {
        this.block(statement as Block, scope)
      }
      position++
    }
  }

  /**
   * Appends literal text to the tidy state (locals `out`, `breaks`, `blanks`, `started`, `first`,
   * `last`), folding what is known at compile time. `out` holds the tidied text up to the pending
   * run; `breaks` (0–2) and `blanks` (its text while it has no break) describe that run.
   */
  private tidyLiteral(literal: TidyLiteral): void {
    const { lead, middle, trail } = literal
    if (lead.breaks >= 2) this.emit('breaks = 2;')
    else if (lead.breaks === 1) this.emit('breaks = breaks === 0 ? 1 : 2;')
    else if (lead.blanks !== '') this.emit(`if (breaks === 0) blanks += ${JSON.stringify(lead.blanks)};`)
    if (middle === '') return
    const run = lead.breaks >= 2 ? '"\\n\\n"' : lead.breaks === 1 ? 'breaks === 1 ? "\\n" : "\\n\\n"' : 'breaks === 0 ? blanks : breaks === 1 ? "\\n" : "\\n\\n"'
    // The run before the first text would be trimmed away: never written.
    this.emit(`if (started) out += ${run}; else { started = true; first = ${middle.charCodeAt(0)}; }`)
    this.emit(`out += ${JSON.stringify(middle)}; last = ${middle.charCodeAt(middle.length - 1)}; breaks = ${trail.breaks}; blanks = ${JSON.stringify(trail.blanks)};`)
  }

  /** Appends a string value: as it is when it has no run at its ends nor a line break (nearly always). */
  private tidyValue(expression: string): void {
    const text = this.fresh()
    this.emit(`const ${text} = ${expression};`)
    this.emit(`if (${text} !== "") {`)
    // Written out, not a shared function: measured 0.7 µs less per text part. Codes up to 32 take
    // the general path (it handles any string), which spaces, tabs and line breaks need.
    this.emit(`if (${text}.charCodeAt(0) > 32 && ${text}.charCodeAt(${text}.length - 1) > 32 && ${text}.indexOf("\\n") < 0) {`)
    this.emit(`if (started) out += breaks === 0 ? blanks : breaks === 1 ? "\\n" : "\\n\\n"; else { started = true; first = ${text}.charCodeAt(0); }`)
    this.emit(`out += ${text}; last = ${text}.charCodeAt(${text}.length - 1); breaks = 0; blanks = "";`)
    this.emit('} else {')
    const split = this.fresh()
    this.emit(`const ${split} = splitLiteral(${text});`)
    this.emit(`if (${split}.lead.breaks > 0) breaks = Math.min(breaks + ${split}.lead.breaks, 2); else if (breaks === 0) blanks += ${split}.lead.blanks;`)
    this.emit(`if (${split}.middle !== "") {`)
    this.emit(`if (started) out += breaks === 0 ? blanks : breaks === 1 ? "\\n" : "\\n\\n"; else { started = true; first = ${split}.middle.charCodeAt(0); }`)
    this.emit(`out += ${split}.middle; last = ${split}.middle.charCodeAt(${split}.middle.length - 1); breaks = ${split}.trail.breaks; blanks = ${split}.trail.blanks;`)
    this.emit('}')
    this.emit('}')
    this.emit('}')
  }

  /** An item of the `+` chain (an expression), or `null` when the statement prints nothing. */
  private statement(node: Node, scope: Scope): string | null {
    switch (node.type) {
      case 'ContentStatement': {
        const value = (node as Literal).value
        if (typeof value !== 'string') unsupported('content')
        // Handlebars emits no item for text emptied by whitespace control (it matters for the `+` chain).
        return value === '' ? null : JSON.stringify(value)
      }
      case 'CommentStatement':
        return null
      case 'MustacheStatement':
        return this.mustache(node as Mustache, scope)
      case 'BlockStatement':
        return this.block(node as Block, scope)
      default:
        return unsupported(node.type) // partials, decorators, partial blocks
    }
  }

  private mustache(node: Mustache, scope: Scope): string {
    const escaped = node.escaped && !this.noEscape
    if (escaped && this.tidy) unsupported('escaping in a tidied text')
    const path = node.path as Path
    if (path.type !== 'PathExpression') unsupported('literal as a mustache name')
    if (this.isHelperCall(node)) {
      const call = this.helperCall(node, scope)
      return escaped ? `escapeValue(${call})` : `rawValue(${call})`
    }
    const value = this.path(path, scope, true)
    return escaped ? `escapePath(${value})` : `rawPath(${value})`
  }

  /** Handlebars' `classifySexpr` with `knownHelpersOnly`: a helper when it has arguments or a known name. */
  private isHelperCall(node: Call): boolean {
    const path = node.path as Path
    const withArguments = node.type === 'SubExpression' || node.params.length > 0 || node.hash !== undefined
    if (withArguments) {
      // `{{this.money 1}}`, `{{@t "x"}}`, `{{a.b c}}` are helper calls too in Handlebars, by their first segment.
      if (!simpleId(path) || path.data) unsupported(`helper call through ${path.original}`)
      return true
    }
    return simpleId(path) && KNOWN_HELPERS.has(path.parts[0]!)
  }

  /** A call to one of our plain helpers, with the arguments and options Handlebars would pass. */
  private helperCall(node: Call, scope: Scope): string {
    const path = node.path as Path
    const name = path.parts[0]!
    if (!PLAIN_HELPERS.has(name) || !KNOWN_HELPERS.has(name)) unsupported(`helper ${name}`)
    const helper = this.hb.helpers[name]
    if (typeof helper !== 'function') unsupported(`helper ${name}`)
    let fn = this.helperVars.get(name)
    if (fn === undefined) {
      fn = `h${this.helpers.length}`
      this.helpers.push(helper)
      this.helperVars.set(name, fn)
    }
    this.usesHelpers = true
    const args = node.params.map((param) => this.expression(param, scope))
    args.push(`{ name: ${JSON.stringify(name)}, hash: ${this.hash(node.hash, scope)}, data: helperData }`)
    // `this` is depth0, never null here (Handlebars would pass its nullContext).
    return `${fn}.call(${scope.ctx}, ${args.join(', ')})`
  }

  /** The hash object; Handlebars writes (and so evaluates) the pairs in reverse order. */
  private hash(hash: Hash | undefined, scope: Scope): string {
    if (hash === undefined) return '{}'
    const keys = new Set<string>()
    const entries: string[] = []
    for (const pair of hash.pairs) {
      if (typeof pair.key !== 'string' || DENIED_NAMES.has(pair.key) || keys.has(pair.key)) unsupported('hash key')
      keys.add(pair.key)
    }
    for (const pair of [...hash.pairs].reverse()) entries.push(`${JSON.stringify(pair.key)}: ${this.expression(pair.value, scope)}`)
    return `{ ${entries.join(', ')} }`
  }

  /** A parameter or hash value: paths are not strict, functions are passed as they are. */
  private expression(node: Node, scope: Scope): string {
    switch (node.type) {
      case 'PathExpression':
        return this.path(node as Path, scope, false)
      case 'SubExpression':
        if (!this.isHelperCall(node as Call)) unsupported('subexpression')
        return this.helperCall(node as Call, scope)
      case 'StringLiteral': {
        const value = (node as Literal).value
        if (typeof value !== 'string') unsupported('string literal')
        return JSON.stringify(value)
      }
      case 'NumberLiteral': {
        // Handlebars writes the number into its code with String(): -0 becomes 0 there too.
        const value = (node as Literal).value
        if (typeof value !== 'number') unsupported('number literal')
        return `(${String(value)})`
      }
      case 'BooleanLiteral':
        return (node as Literal).value === true ? 'true' : 'false'
      case 'UndefinedLiteral':
        return 'undefined'
      case 'NullLiteral':
        return 'null'
      default:
        return unsupported(node.type)
    }
  }

  /**
   * A path's value, in a fresh variable. Intermediate segments are `lookupProperty` (a `null`
   * parent throws); the last one is strict (`"x" not defined in …`) only where Handlebars is: a
   * mustache's own path. Property reads are written out with their names so that V8 caches each
   * one (a shared `lookup(obj, name)` function is megamorphic: about 3× slower here).
   */
  private path(path: Path, scope: Scope, strict: boolean): string {
    const parts = path.parts
    for (const part of parts) if (typeof part !== 'string' || DENIED_NAMES.has(part)) unsupported(`path segment ${String(part)}`)
    let value: string
    let rest: string[]
    if (path.data) {
      if (path.depth !== 0 || parts.length === 0) unsupported('@../ path')
      const [name, ...tail] = parts as [string, ...string[]]
      rest = tail
      const loop = scope.loop
      if (name === 'root') value = 'root'
      else if (loop !== null && (name === 'index' || name === 'key')) value = loop.index
      else if (loop !== null && name === 'first') value = `(${loop.index} === 0)`
      else if (loop !== null && name === 'last') value = `(${loop.index} === ${loop.length} - 1)`
      else value = `dataProp(data, ${JSON.stringify(name)})`
    } else {
      if (!Number.isInteger(path.depth) || path.depth < 0) unsupported('depth')
      // Beyond the outermost context Handlebars reads `depths[n]`, undefined: so do we.
      value = scope.depths[path.depth] ?? 'undefined'
      rest = parts
    }
    if (rest.length === 0) return value
    let parent = this.fresh()
    this.emit(`const ${parent} = ${value};`)
    rest.forEach((part, index) => {
      const key = JSON.stringify(part)
      if (strict && index === rest.length - 1) {
        this.emit(`if (!${parent} || (typeof ${parent} !== "object" && typeof ${parent} !== "function") || !(${key} in ${parent})) throw FALLBACK;`)
      }
      const next = this.fresh()
      // An inherited value: Handlebars' prototype-access rules, not modelled. An object whose
      // prototype is Object.prototype, without the name there, has it as its own (V8 folds this
      // test to a map check, where hasOwnProperty is a call).
      this.emit(`const ${next} = ${parent}[${key}];`)
      this.emit(`if (${next} != null && !(getPrototypeOf(${parent}) === ObjectPrototype && !(${key} in ObjectPrototype)) && !hasOwn.call(${parent}, ${key})) throw FALLBACK;`)
      parent = next
    })
    return parent
  }

  private block(node: Block, scope: Scope): string {
    const path = node.path as Path
    if (path.type !== 'PathExpression' || !simpleId(path) || path.data || !this.isHelperCall(node)) unsupported('block without a built-in helper')
    const name = path.parts[0]!
    if (!(INLINED as readonly string[]).includes(name)) unsupported(`block helper ${name}`)
    // Handlebars' `unless` calls the instance's `if`.
    for (const helper of name === 'unless' ? ['unless', 'if'] : [name]) {
      if (typeof this.hb.helpers[helper] !== 'function' || String(this.hb.helpers[helper]) !== BUILT_IN_SOURCES.get(helper)) unsupported(`replaced helper ${helper}`)
    }
    if (node.params.length !== 1) unsupported(`#${name} with ${node.params.length} arguments`)
    if (name === 'each' && node.hash !== undefined) unsupported('#each with a hash')
    if (name === 'with' && node.hash !== undefined) unsupported('#with with a hash')
    // Handlebars evaluates the argument, then the hash, then calls the helper.
    const value = this.fresh()
    this.emit(`const ${value} = noFunction(${this.expression(node.params[0]!, scope)});`)
    let includeZero = 'false'
    for (const pair of [...(node.hash?.pairs ?? [])].reverse()) {
      if (typeof pair.key !== 'string' || DENIED_NAMES.has(pair.key)) unsupported('hash key')
      const hashValue = this.fresh()
      this.emit(`const ${hashValue} = ${this.expression(pair.value, scope)};`)
      if (pair.key === 'includeZero') includeZero = hashValue
    }
    if (node.hash !== undefined && new Set(node.hash.pairs.map((pair) => pair.key)).size !== node.hash.pairs.length) unsupported('repeated hash key')
    const out = this.tidy ? '' : this.fresh()
    if (!this.tidy) this.emit(`let ${out};`)
    // The value of a branch, or nothing in tidy mode (the branch appended itself).
    const branch = (program: Program | undefined, branchScope: Scope, assign = '='): void => {
      const value = this.program(program, branchScope)
      if (!this.tidy) this.emit(`${out} ${assign} ${value};`)
    }
    if (name === 'if' || name === 'unless') {
      const [yes, no] = name === 'if' ? [node.program, node.inverse] : [node.inverse, node.program]
      this.emit(`if ((!${includeZero} && !${value}) || isEmpty(${value})) {`)
      branch(no, scope)
      this.emit('} else {')
      branch(yes, scope)
      this.emit('}')
    } else if (name === 'with') {
      this.emit(`if (isEmpty(${value})) {`)
      branch(node.inverse, scope)
      this.emit('} else {')
      branch(node.program, this.enter(value, scope, scope.loop))
      this.emit('}')
    } else {
      const index = this.fresh()
      const length = this.fresh()
      const item = this.fresh()
      if (!this.tidy) this.emit(`${out} = "";`)
      this.emit(`let ${length} = 0;`)
      this.emit(`if (${value} && typeof ${value} === "object") {`)
      // Objects, Maps, Sets and other iterables: Handlebars' each has its own rules there.
      this.emit(`if (!Array.isArray(${value})) throw FALLBACK;`)
      this.emit(`${length} = ${value}.length;`)
      this.emit(`for (let ${index} = 0; ${index} < ${length}; ${index}++) {`)
      this.emit(`if (!(${index} in ${value})) continue;`)
      this.emit(`const ${item} = ${value}[${index}];`)
      branch(node.program, this.enter(item, scope, { index, length }), '+=')
      this.emit('}')
      this.emit('}')
      this.emit(`if (${length} === 0) {`)
      branch(node.inverse, scope)
      this.emit('}')
    }
    return out
  }

  /**
   * A new context for a `with` or `each` body. Handlebars turns a `null` one into an empty object,
   * and skips pushing a context loosely equal (`!=`) to the current one for `../`: both fall back.
   */
  private enter(value: string, scope: Scope, loop: Scope['loop']): Scope {
    this.emit(`if (${value} == null) throw FALLBACK;`)
    if (this.usesDepths) this.emit(`if (${value} == ${scope.ctx}) throw FALLBACK;`)
    return { ctx: value, depths: [value, ...scope.depths], loop }
  }
}

/** The statements of a program that print (Handlebars skips comments and emptied text). */
function printing(program: Program): Node[] {
  return program.body.filter((node) => node.type !== 'CommentStatement' && !(node.type === 'ContentStatement' && (node as Literal).value === ''))
}

/** Whether a statement's value may be a number or boolean (an unescaped value, or a block of one). */
function mayBeNonString(node: Node): boolean {
  if (node.type === 'MustacheStatement') return true
  if (node.type !== 'BlockStatement') return false
  const block = node as Block
  const single = (program: Program | undefined): boolean => {
    const items = program === undefined ? [] : printing(program)
    return items.length === 1 && mayBeNonString(items[0]!)
  }
  // `each` concatenates its iterations onto "", but returns its `{{else}}` as it is.
  if ((block.path as Path).parts?.[0] === 'each') return single(block.inverse)
  return single(block.program) || single(block.inverse)
}

function usesDepths(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false
  if (Array.isArray(node)) return node.some(usesDepths)
  const record = node as Record<string, unknown>
  if (record.type === 'PathExpression' && !record.data && typeof record.depth === 'number' && record.depth > 0) return true
  return Object.entries(record).some(([key, value]) => key !== 'loc' && usesDepths(value))
}

/**
 * The delegate to render with: the fast function first; on any throw, Handlebars, which returns
 * the output or throws its own error (the one `explainRenderError` reads).
 */
export function withFallback(fast: FastTemplate | null, handlebars: Handlebars.TemplateDelegate): Handlebars.TemplateDelegate {
  if (fast === null) return handlebars
  return (context, options) => {
    try {
      return fast(context, options as FastOptions)
    } catch {
      return handlebars(context, options)
    }
  }
}

/**
 * Compiles a template of our dialect (`COMPILE_OPTIONS`, plus `noEscape`) into a plain function,
 * or returns `null` when it uses something outside the subset: the caller keeps Handlebars then.
 * The function throws (then the caller renders with Handlebars) when a value is outside the cases
 * it models; when it returns, its output is Handlebars' with `RUNTIME_OPTIONS` (tidied with `tidy`).
 */
export function compileFast(hb: typeof Handlebars, source: string, options: FastCompileOptions = {}): FastTemplate | null {
  if (options.tidy === true && options.noEscape !== true) return null
  try {
    return generate(hb, source, options.noEscape === true, options.tidy === true)
  } catch {
    // Unsupported constructs (and anything unexpected): Handlebars alone is always right.
    return null
  }
}

function generate(hb: typeof Handlebars, source: string, noEscape: boolean, tidy: boolean): FastTemplate {
  // Handlebars' own parser and whitespace control: what `compile` runs (compiler/base.js `parse`).
  const ast = hb.parse(source) as unknown as Program
  const generator = new Generator(hb, noEscape, usesDepths(ast), tidy)
  const out = generator.program(ast, { ctx: 'context', depths: ['context'], loop: null })
  const helpers = generator.helpers.map((_, index) => `const h${index} = helpers[${index}];`).join('\n')
  const code = `"use strict";
const { splitLiteral, finishText, hasOwn, getPrototypeOf, ObjectPrototype, dataProp, escapeValue, escapePath, rawValue, rawPath, noFunction, isEmpty, FALLBACK } = runtime;
${helpers}
return function fastTemplate(context, options) {
if (typeof context !== "object" || context === null) throw FALLBACK;
let data;
if (options !== undefined && options !== null) {
  // Runtime helpers, partials or internal options change what Handlebars does: leave those to it.
  if (options.helpers !== undefined || options.partials !== undefined || options.decorators !== undefined || options.partial !== undefined || options.depths !== undefined) throw FALLBACK;
  data = options.data;
  // Handlebars uses the caller's frame as it is when it has a root: not modelled.
  if (data !== undefined && (typeof data !== "object" || data === null || "root" in data)) throw FALLBACK;
}
const root = context;
${generator.usesHelpers ? 'const helperData = { root };' : ''}
${tidy ? 'let out = "", breaks = 0, blanks = "", started = false, first = 0, last = 0;' : ''}
${generator.source()}
return ${tidy ? 'started ? finishText(out, first, last) : ""' : `"" + ${out}`};
};`
  const factory = new Function('runtime', 'helpers', code) as (runtime: typeof RUNTIME, helpers: Function[]) => FastTemplate
  return factory(RUNTIME, generator.helpers)
}
