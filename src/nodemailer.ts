export * from './transports/nodemailer.js'
export * from './transports/outbox.js'
export type { MailOptionsLike, MailboxLike } from './transports/mail-options.js'
