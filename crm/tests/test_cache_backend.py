"""crm.cache.RedisCache: Django's Redis backend with one redis client per pool (no new client per call)."""

import os
import threading

import pytest
from django.conf import settings
from django.core.cache import caches

from crm.cache import RedisCache

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")


def backend():
    return RedisCache(settings.CACHES["default"]["LOCATION"], {"KEY_PREFIX": "test-cache-backend"})


def test_the_settings_use_it_with_redis():
    assert isinstance(caches["default"], RedisCache)


def test_every_operation_works_through_one_client():
    cache = backend()
    cache.delete_many(["a", "b", "n"])
    client = cache._cache.get_client()
    assert cache.add("a", {"x": 1}) and not cache.add("a", 2)
    cache.set("b", "值")
    assert cache.get_many(["a", "b", "missing"]) == {"a": {"x": 1}, "b": "值"}
    assert cache.add("n", 0)
    assert cache.incr("n") == 1
    cache.delete("a")
    assert cache.get("a") is None
    assert cache._cache.get_client() is client
    assert cache._cache.get_client(write=True) is client  # one server: reads and writes share index 0
    cache.delete_many(["b", "n"])


def test_threads_share_the_client_safely():
    cache = backend()
    errors = []

    def work(n):
        try:
            for i in range(50):
                cache.set(f"t{n}", i)
                assert cache.get(f"t{n}") == i
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache.delete_many([f"t{n}" for n in range(8)])
