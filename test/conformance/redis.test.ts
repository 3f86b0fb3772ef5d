import { randomUUID } from 'node:crypto'
import { redisStore } from 'relance/redis'
import { redisInspector } from './redis-inspector.js'
import { describeStoreConformance } from './suite.js'
import { REDIS_URL, requireServices } from '../helpers/services.js'

describeStoreConformance('redis', async () => {
  await requireServices('redis')
  const prefix = `relance-test-${randomUUID().slice(0, 8)}`
  const store = redisStore({ url: REDIS_URL, prefix })
  await store.init()
  const raw = await redisInspector(prefix)
  return {
    store,
    raw,
    async cleanup() {
      await store.close()
      await raw.dropKeys()
      await raw.close()
    },
  }
})
