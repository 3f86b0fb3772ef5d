import { postgresStore } from 'relance/postgres'
import { POSTGRES_URL, postgresInspector, testSchema } from './postgres-inspector.js'
import { describeStoreConformance } from './suite.js'
import { requireServices } from '../helpers/services.js'

describeStoreConformance('postgres', async () => {
  await requireServices('postgres')
  const schema = testSchema()
  const store = postgresStore({ connectionString: POSTGRES_URL, schema })
  await store.init()
  const raw = await postgresInspector(schema)
  return {
    store,
    raw,
    async cleanup() {
      await store.close()
      await raw.dropSchema()
      await raw.close()
    },
  }
})
