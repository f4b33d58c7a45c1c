"""Read, parse and normalise the next chunk of an import in a second process while this one writes.

The run's pure-Python work per row — reading the file, `parse_row` (validation, normalisation),
the engine record, `matching.prepare` and `matching.match_keys` — needs no database. For a big
import (`PIPELINE_MIN_ROWS` rows or more left) the run starts `python -m customers.io.pipeline_child`,
hands it the file, the sheet, the mapping and the job's assignment context (pickled, over a pipe),
and the child sends back, chunk after chunk, the same `Ready` tuples `prepare_chunk` computes in
process. Meanwhile the parent does what needs the database: the candidate lookups, the scoring,
the inserts and the commit, during which PostgreSQL uses the other core. The pipe is the queue:
the child blocks once it is a chunk ahead.

Both sides call the same `prepare_chunk`, so the outcome is the serial path's (a test compares
every outcome, customer, contact point, audit entry and match key of both). Model instances (owner,
unit, roles) cross the pipe as primary keys and are mapped back to the parent's own context
objects. If the child cannot start or dies, the parent reads and parses the remaining rows itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import itertools
import logging
import operator
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from django.conf import settings

from customers.io.readers import FileProblem, RawRow, Sheet, iter_rows
from customers.io.rows import Assignment, ParsedRow, parse_row
from customers.models import ContactPoint
from customers.services import ContactInput
from dedup import matching
from dedup.normalize import nfkc

logger = logging.getLogger(__name__)

# Below this many rows the child's start (Django setup, ~1 s of CPU) costs more than it saves.
# Settings CUSTOMER_IMPORT_PIPELINE (False: always in process) and CUSTOMER_IMPORT_PIPELINE_MIN_ROWS.
PIPELINE_MIN_ROWS = 5000


class Ready(NamedTuple):
    """One chunk, parsed, with what the run would otherwise compute row by row.

    For the rows the duplicate search looks at (valid rows that are not in-file duplicates):
    `own`, `prepared`, `keys` — {row number: engine record / prepared record / match keys}.
    For every valid row, as the run stores it if it creates the customer: `contacts` — {row:
    [(value, normalized)] of its contact points}, `index_keys` — {row: the dedup match keys of the
    stored customer, sorted}. `checks` — {row: '' or the model checks' message}: only from the
    child (in process the run builds the instances and checks them itself).
    """

    rows: list[ParsedRow]
    own: dict[int, matching.Record]
    prepared: dict[int, matching.Prepared]
    keys: dict[int, set[str]]
    contacts: dict[int, list[tuple[str, str]]]
    index_keys: dict[int, list[str]]
    checks: dict[int, str]


# The cyclic garbage collector's default thresholds (700, 10, 10) made it 20-25 % of an import's
# CPU: every 700 allocations it walked the chunk being built, and each full collection walked the
# whole heap (Django, the pinyin tables, the normalisers' caches), about 0.25 s per collection on
# the 1M database. The import's objects are freed by reference counting; cycles are few.
RELAXED_GC_THRESHOLD = (100_000, 50, 100)


@contextlib.contextmanager
def relaxed_gc() -> Iterator[None]:
    """While an import analyses or runs: the objects that exist now are left out of collections
    (gc.freeze) and the young generation is collected every 100,000 allocations instead of 700.
    Both are put back afterwards (Celery's worker process lives on)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*RELAXED_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def parse_chunk(raw_rows: Iterable[RawRow], mapping: dict, ctx: Assignment, header_count: int) -> list[ParsedRow]:
    return [
        parse_row(raw.number, raw.values, mapping, ctx, header_count=header_count, problems=raw.problems)
        for raw in raw_rows
    ]


def stored_record(row: ParsedRow) -> matching.Record:
    """The engine record `dedup.records.records_build` reads back once the run has inserted this
    row's customer (`importer._bulk_create`: NFKC name and contact values, province and city from
    the address, contact points primary first), with the row number as id."""
    from dedup.records import _records_assemble

    address = next((c for c in row.contacts if c.kind == ContactPoint.Kind.ADDRESS), None)
    province = address.province if address else row.province
    city = address.city if address else row.city
    ordered = sorted(row.contacts, key=lambda c: not c.is_primary)
    contact_rows = [(row.number, c.kind, nfkc(c.value), c.province, c.city, c.postcode) for c in ordered]
    profile = row.profile
    companies = {row.number: (profile.get("credit_code", ""), "")} if row.kind == "company" else {}
    persons = {row.number: (profile.get("id_number", ""), profile.get("birth_date"))} if row.kind == "person" else {}
    customer = (row.number, row.kind, nfkc(row.name), province, city)
    return _records_assemble([customer], contact_rows, companies, persons)[row.number]


def prepare_chunk(rows: list[ParsedRow], infile: Iterable[int], *, user=None) -> Ready:
    """What the run computes per chunk before it touches the database (`user`: the importer, to run
    the model checks of the customers the rows would create; without it they are left to the run)."""
    from customers.services import contact_normalize

    try:
        from dedup.records import KEY_MAX_LENGTH, keys_of
    except ImportError:
        keys_of = None
    infile = set(infile)
    own = {row.number: row.record() for row in rows if row.ok and row.number not in infile}
    prepared = {number: matching.prepare(record) for number, record in own.items()}
    keys = {number: matching.match_keys(ready) for number, ready in prepared.items()}
    contacts, index_keys, checks = {}, {}, {}
    for row in rows:
        if not row.ok:
            continue
        contacts[row.number] = [(nfkc(c.value), contact_normalize(c.kind, c.value)) for c in row.contacts]
        if keys_of is not None:
            record, mine = stored_record(row), own.get(row.number)
            if mine is not None and record == mine:
                index_keys[row.number] = sorted({key[:KEY_MAX_LENGTH] for key in keys[row.number]})
            else:
                index_keys[row.number] = sorted(keys_of(matching.prepare(record)))
        if user is not None:
            from customers.io.importer import model_check

            checks[row.number] = model_check(row, user)
    return Ready(rows, own, prepared, keys, contacts, index_keys, checks)


def chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def serial_chunks(
    content: bytes, sheet: Sheet, start: int, size: int, mapping: dict, ctx: Assignment, infile, *, checks=False
) -> Iterator[Ready]:
    """The chunks from row `start` on (0-based, data rows), computed in this process (`checks`:
    with the model checks, as the child sends them)."""
    remaining = itertools.islice(iter_rows(content, sheet), start, None)
    header_count = len(sheet.headers)
    user = ctx.user if checks else None
    for raw_chunk in chunks(remaining, size):
        yield prepare_chunk(parse_chunk(raw_chunk, mapping, ctx, header_count), infile, user=user)


# --- Crossing the pipe -----------------------------------------------------------------------------
# Rows cross as plain tuples (unpickling a dataclass per row and per contact point cost the parent
# more than half of what the child spared it), model instances as their primary keys.

_ROW_FIELDS = [f.name for f in dataclasses.fields(ParsedRow)]
_CONTACT_FIELDS = [f.name for f in dataclasses.fields(ContactInput)]
_row_values = operator.attrgetter(*_ROW_FIELDS)
_contact_values = operator.attrgetter(*_CONTACT_FIELDS)
_CONTACTS = _ROW_FIELDS.index("contacts")
_OWNER, _UNIT, _ROLES = (_ROW_FIELDS.index(name) for name in ("owner", "org_unit", "roles"))


def _encode(ready: Ready) -> tuple:
    rows = []
    for row in ready.rows:
        values = list(_row_values(row))
        values[_CONTACTS] = [_contact_values(c) for c in row.contacts]
        values[_OWNER] = getattr(row.owner, "pk", None)
        values[_UNIT] = getattr(row.org_unit, "pk", None)
        values[_ROLES] = [role.pk for role in row.roles]
        rows.append(values)
    return (rows, *ready[1:])


class _Objects:
    """The parent's context objects by primary key, to put back what crossed the pipe as ids."""

    def __init__(self, ctx: Assignment):
        self.users = {user.pk: user for user in ctx.users.values()}
        self.units = {unit.pk: unit for unit in ctx.units.values()}
        if ctx.user_unit is not None:
            self.units[ctx.user_unit.pk] = ctx.user_unit
        self.users[ctx.user.pk] = ctx.user  # rows owned by the importer hold the importer's own object
        self.roles = {role.pk: role for role in ctx.roles.values()}

    def decode(self, payload: tuple) -> Ready:
        encoded, *rest = payload
        rows = []
        for values in encoded:
            values[_CONTACTS] = [ContactInput(*c) for c in values[_CONTACTS]]
            owner, unit = values[_OWNER], values[_UNIT]
            values[_OWNER] = None if owner is None else self.users[owner]
            values[_UNIT] = None if unit is None else self.units[unit]
            values[_ROLES] = [self.roles[pk] for pk in values[_ROLES]]
            rows.append(ParsedRow(*values))
        return Ready(rows, *rest)


def child_main(stdin: io.BufferedReader, stdout: io.BufferedWriter) -> None:
    """The child's loop: one job description in, one pickled message per chunk out."""
    from django.utils import translation

    spec = pickle.load(stdin)  # noqa: S301 - from our parent process, over a pipe
    translation.activate(spec["language"])
    ctx: Assignment = spec["ctx"]
    try:
        with relaxed_gc():
            for ready in serial_chunks(
                spec["content"],
                spec["sheet"],
                spec["start"],
                spec["size"],
                spec["mapping"],
                ctx,
                spec["infile"],
                checks=True,
            ):
                pickle.dump(("chunk", _encode(ready)), stdout, protocol=pickle.HIGHEST_PROTOCOL)
                stdout.flush()
    except FileProblem as exc:
        pickle.dump(("problem", str(exc)), stdout, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.dump(("end", None), stdout, protocol=pickle.HIGHEST_PROTOCOL)
    stdout.flush()


def _start_child(spec: dict) -> subprocess.Popen:
    module = os.environ.get("DJANGO_SETTINGS_MODULE") or getattr(settings, "SETTINGS_MODULE", None) or "crm.settings"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
    proc = subprocess.Popen(
        [sys.executable, "-m", "customers.io.pipeline_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=str(settings.BASE_DIR),
        env=env,
    )

    def feed() -> None:
        # In a thread: the pipe takes the file only as fast as the child, still importing Django,
        # reads it, and this process has the first chunk to prepare meanwhile.
        try:
            pickle.dump(spec, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.close()
        except (OSError, ValueError):
            pass  # the child is gone: the reader gets EOF and this process parses the rest

    threading.Thread(target=feed, name="import-pipeline-feed", daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


def ready_chunks(
    content: bytes,
    sheet: Sheet,
    start: int,
    size: int,
    mapping: dict,
    ctx: Assignment,
    infile,
    *,
    total_rows: int | None = None,
    use_pipeline: bool | None = None,
) -> Iterator[Ready]:
    """The chunks of the rows from `start` on, each parsed and prepared: by a child process for big
    imports (`use_pipeline` None: when `total_rows - start` reaches PIPELINE_MIN_ROWS), else here.
    The same chunks either way; closing the generator stops the child."""
    if use_pipeline is None:
        use_pipeline = (
            getattr(settings, "CUSTOMER_IMPORT_PIPELINE", True)
            and total_rows is not None
            and total_rows - start >= getattr(settings, "CUSTOMER_IMPORT_PIPELINE_MIN_ROWS", PIPELINE_MIN_ROWS)
        )
    if not use_pipeline:
        yield from serial_chunks(content, sheet, start, size, mapping, ctx, infile)
        return
    from django.utils import translation

    # This process prepares the first chunk itself while the child starts; the child begins after it.
    spec = {
        "language": translation.get_language() or settings.LANGUAGE_CODE,
        "content": content,
        "sheet": sheet,
        "start": start + size,
        "size": size,
        "mapping": mapping,
        "ctx": ctx,
        "infile": sorted(set(infile)),
    }
    done = start
    try:
        proc = _start_child(spec)
    except OSError:
        logger.warning("import: the preparing process did not start; parsing in process", exc_info=True)
        yield from serial_chunks(content, sheet, start, size, mapping, ctx, infile)
        return
    objects = _Objects(ctx)
    try:
        first = next(serial_chunks(content, sheet, start, size, mapping, ctx, infile), None)
        if first is None:
            return
        done += len(first.rows)
        yield first
        while True:
            try:
                kind, payload = pickle.load(proc.stdout)  # noqa: S301 - our own child, over a pipe
            except (EOFError, OSError, pickle.UnpicklingError):
                logger.warning("import: the preparing process stopped at row %s; parsing the rest in process", done)
                break
            if kind == "end":
                return
            if kind == "problem":
                raise FileProblem(payload)
            ready = objects.decode(payload)
            done += len(ready.rows)
            yield ready
    finally:
        _stop(proc)
    yield from serial_chunks(content, sheet, done, size, mapping, ctx, infile)
