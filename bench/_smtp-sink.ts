/**
 * A local SMTP server in its own process for the delivery benchmark, so that the server's CPU
 * work does not compete with the sender being measured. Speaks over the fork IPC channel:
 * sends `{ port }` once listening; answers `'count'` with `{ accepted }`; exits on `'stop'`.
 */
import { startSmtpServer } from '../test/helpers/smtp-server.js'

const server = await startSmtpServer({ record: false })
process.send!({ port: server.port, host: server.host })
process.on('message', async (message) => {
  if (message === 'count') process.send!({ accepted: server.acceptedCount })
  if (message === 'stop') {
    await server.stop()
    process.exit(0)
  }
})
