import { memoryStore } from '../../src/stores/memory.js'
import { memoryInspector } from './memory-inspector.js'
import { describeStoreConformance } from './suite.js'

describeStoreConformance('memory', async () => {
  const store = memoryStore()
  return { store, raw: memoryInspector(store), cleanup: () => store.close() }
})
