import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sqliteStore } from 'relance/sqlite'
import { sqliteInspector } from './sqlite-inspector.js'
import { describeStoreConformance } from './suite.js'

describeStoreConformance('sqlite (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relance-sqlite-'))
  const filename = join(dir, 'relance.db')
  const store = sqliteStore({ filename })
  await store.init()
  const raw = sqliteInspector(filename)
  return {
    store,
    raw,
    async cleanup() {
      raw.close()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})
