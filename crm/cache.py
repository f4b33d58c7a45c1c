"""Django's Redis cache backend with one `redis.Redis` client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call.
With redis-py 8 that costs ~130 µs of CPU (the client copies its table of response callbacks), as
much as the round trip itself, and a page makes 5-10 cache calls (session, principal, versions,
unread badge, directory options). A client object is safe to share: it holds no connection, it
checks one out of its pool per command (redis-py: "client instances can be shared between
threads"), and the pool notices a fork. The cache handler already gives every thread its own
backend instance. Measured in docs/performance.md ("Session 5").
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # Django's, created once per server
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
