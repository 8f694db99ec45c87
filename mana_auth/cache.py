"""Django's Redis cache, reusing one client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object on every cache
call (the pool is shared, the client is not); with redis-py 8 that costs 50 to 150 µs a call on
the hot paths (validate, passkey ceremonies, rate limits). A client is thread-safe and holds
no connection of its own, so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._client(connection_pool=pool)
            self._clients[id(pool)] = client
        return client


class ManaRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
