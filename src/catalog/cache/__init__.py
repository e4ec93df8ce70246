"""The cache: ready-to-send bytes in Redis, or in this process when no Redis is configured.

    backend      `CacheBackend`, the one seam to the cache server, and `CacheUnavailable`
    memory       `MemoryCache`, the in-process twin (the embedded default)
    redis_cache  `RedisCache`, on redis-py's asyncio client (`CATALOG_REDIS_URL`)
    keys         namespaced, versioned key names (`KEY_VERSION`)
    cache_aside  `Cache`: what routes, jobs and services use; reads and fills that never fail
    invalidation which keys a change-log row makes stale, and evicting them

The database is the truth; the cache only ever holds copies. A read that misses, or finds the
cache down, answers from PostgreSQL; a write never waits on, or fails because of, the cache.
"""
