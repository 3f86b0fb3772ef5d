import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const SCRIPT = new URL('./workers/check-services.ts', import.meta.url).pathname

function check(service: string, env: Record<string, string | undefined>) {
  const childEnv = { ...process.env, ...env }
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key]
  return spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, service], { env: childEnv, encoding: 'utf8' })
}

describe('database services check', () => {
  it('an unreachable PostgreSQL fails with the command that starts it', () => {
    const result = check('postgres', { CI: undefined, RELANCE_TEST_POSTGRES_URL: 'postgres://postgres@127.0.0.1:1/test' })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('postgres does not answer at postgres://postgres@127.0.0.1:1/test')
    expect(result.stderr).toContain('pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start')
    expect(result.stderr).toContain('DEVELOPERS.md')
  })

  it('an unreachable Redis fails with the command that starts it; under CI=true it says it is a CI failure', () => {
    const local = check('redis', { CI: undefined, RELANCE_TEST_REDIS_URL: 'redis://127.0.0.1:1' })
    expect(local.status).toBe(1)
    expect(local.stderr).toContain('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379')
    const ci = check('redis', { CI: 'true', RELANCE_TEST_REDIS_URL: 'redis://127.0.0.1:1' })
    expect(ci.status).toBe(1)
    expect(ci.stderr).toMatch(/redis does not answer .*CI=true: the database tests fail/)
  })

  it('the real servers answer', () => {
    const result = check('postgres', {})
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(check('redis', {}).status).toBe(0)
  })
})
