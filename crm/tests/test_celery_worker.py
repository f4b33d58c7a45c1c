"""A real Celery worker, started as its own process against Redis, executes a task we send.

Runs when REDIS_URL is set (CI sets it); skipped otherwise, unless CRM_REQUIRE_SERVICES=1, which
turns the skip into a failure so CI cannot pass without having exercised a worker.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.redis

BASE_DIR = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    if not url:
        if os.environ.get("CRM_REQUIRE_SERVICES") == "1":
            pytest.fail("CRM_REQUIRE_SERVICES=1 but REDIS_URL is not set", pytrace=False)
        pytest.skip("REDIS_URL is not set: no broker to run a real worker against")
    return url


@pytest.fixture
def worker(redis_url, tmp_path):
    """A `celery -A crm worker --pool=solo -c 1` consuming a queue of its own, so a concurrent run
    sharing the Redis database cannot take our task (or we theirs)."""
    queue = f"crm-test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "REDIS_URL": redis_url}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "crm",
        "worker",
        "--pool=solo",
        "-c",
        "1",
        "-Q",
        queue,
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{queue}@%h",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield {"queue": queue, "process": process, "log": log_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_a_real_worker_executes_a_task_sent_through_redis(worker):
    from django.core.cache import cache

    from crm.tasks import ping_task

    assert not settings.CELERY_TASK_ALWAYS_EAGER, "with REDIS_URL set, tasks must go through the broker"
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")

    token = uuid.uuid4().hex
    ping_task.apply_async(args=[token], queue=worker["queue"])

    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if cache.get(f"crm:ping:{token}") == "pong":
            break
        if worker["process"].poll() is not None:
            pytest.fail(f"the worker exited with {worker['process'].returncode}:\n{worker['log'].read_text()}")
        time.sleep(0.25)
    else:
        pytest.fail(f"no worker ran the task within {DEADLINE_SECONDS}s:\n{worker['log'].read_text()}")

    cache.delete(f"crm:ping:{token}")
    assert "crm.tasks.ping_task" in worker["log"].read_text()
