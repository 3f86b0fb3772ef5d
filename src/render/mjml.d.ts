// MJML 5 ships no type declarations; this is the part of its API relance uses.
declare module 'mjml' {
  interface MjmlError {
    line: number
    message: string
    tagName: string
    formattedMessage: string
  }
  interface MjmlOptions {
    validationLevel?: 'strict' | 'soft' | 'skip'
    keepComments?: boolean
    filePath?: string
    beautify?: boolean
    minify?: boolean
  }
  export default function mjml2html(input: string, options?: MjmlOptions): Promise<{ html: string; errors: MjmlError[] }>
}
