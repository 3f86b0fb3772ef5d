export { redisStore } from './stores/redis.js'
export type { RedisClientOptions, RedisLike, RedisStoreOptions, RedisUrlOptions } from './stores/redis.js'
