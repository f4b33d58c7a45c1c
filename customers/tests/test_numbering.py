"""Customer numbers stay unique when separate processes create customers at the same moment."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from customers.models import Customer, NumberSequence

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CREATOR = """
import json, os, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from customers.services import CustomerInput, customer_create

start_at, count, user_id = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
user = get_user_model().objects.get(pk=user_id)
while time.time() < start_at:
    time.sleep(0.001)
numbers = [
    customer_create(data=CustomerInput(kind="company", name=f"并发客户{os.getpid()}-{i}"), created_by=user).number
    for i in range(count)
]
print(json.dumps(numbers))
"""


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def test_two_processes_creating_customers_at_once_get_distinct_numbers(django_user_model):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers anyway")
    NumberSequence.objects.get_or_create(name="customer")
    user = django_user_model.objects.create_user("creator")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "crm.test_settings",
        "PYTHONPATH": str(Path(settings.BASE_DIR)),
    }
    start_at, per_process = time.time() + 3, 25
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(start_at), str(per_process), str(user.pk)],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    numbers = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        numbers += json.loads(out.strip().splitlines()[-1])
    assert len(numbers) == 2 * per_process
    assert len(set(numbers)) == len(numbers)
    assert Customer.objects.count() == len(numbers)
    assert set(Customer.objects.values_list("number", flat=True)) == set(numbers)
