/** `node --import tsx test/workers/check-services.ts postgres redis`: exits 0 when they answer, 1 with the message otherwise. */
import { requireServices, type Service } from '../helpers/services.js'

try {
  await requireServices(...(process.argv.slice(2) as Service[]))
  console.log('ok')
} catch (error) {
  console.error((error as Error).message)
  process.exit(1)
}
