"""Schemathesis against the running production server: every operation of the OpenAPI document
(/api/v1/openapi.json), with data generated from the document, anonymous and with a staff
token. No answer may be a server error, and every answer (status, content type, body) must be
one the document declares.

The server is `wishes serve --demo` (waitress and the notification worker, the demo hospital)
on a free port, as tests/e2e/conftest.py starts it; the token comes from
`wishes api-token create`, whose last line it is. Bounded: 30 examples an operation.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

WISHES = Path(sys.executable).parent / "wishes"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure can be run again
    suppress_health_check=list(HealthCheck),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture(scope="module")
def server():
    root = Path(tempfile.mkdtemp(prefix="api-", dir="/tmp"))
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("WISHES_")}
    env.update(
        WISHES_DATA_DIR=str(root / "data"),
        WISHES_MODELS_DIR=str(root / "models"),
        WISHES_BIND=f"127.0.0.1:{port}",
        # Every generated request comes from one address: the limits would answer most of
        # them 429 (a declared answer, tested in test_api.py) and hide the operations.
        WISHES_RATE_LIMIT_FACTOR="0",
    )
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(WISHES), "serve", "--demo"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # trains the bundled router first: ~10 s
        while not _answers(base_url + "/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"wishes serve did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        created = subprocess.run(
            [
                str(WISHES),
                "api-token",
                "create",
                "secretary",
                "--scope",
                "read",
                "--scope",
                "write",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        token = created.stdout.strip().splitlines()[-1]
        with closing(
            sqlite3.connect(f"file:{root / 'data' / 'wishes.db'}?mode=ro", uri=True)
        ) as db:
            rows = db.execute(
                "SELECT id, tracking_code FROM wishes ORDER BY branch_code = 'pediatrics' DESC, "
                "state = 'open' DESC, id LIMIT 20"
            ).fetchall()
        REAL["wish_id"] = [row[0] for row in rows]
        REAL["code"] = [row[1] for row in rows]
        yield base_url, token, log_path
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        assert "Traceback" not in log, log[-5000:]


# Path values that name something (set by `server`): half the cases use one, so that the
# operations answer with what they are for, not only with 404.
REAL: dict[str, list] = {"slug": ["satisfaction"]}


def _strategy(operation):
    """Valid cases, invalid ones (wrong types, missing fields: the refusals must be declared
    too), and valid ones on path values that exist."""
    cases = operation.as_strategy()
    invalid = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    names = [name for name in REAL if name in operation.path_parameters]
    if not names:
        return st.one_of(cases, invalid)

    def named(drawn):
        case, values = drawn
        chosen = dict(zip(names, values, strict=True))
        case.path_parameters = {**(case.path_parameters or {}), **chosen}
        return case

    real = st.tuples(*(st.sampled_from(REAL[name]) for name in names))
    return st.one_of(cases, invalid, st.tuples(cases, real).map(named))


def _caller(operation, base_url: str, headers: dict[str, str], seen: Counter):
    """A Hypothesis test of one operation: each case sent, its answer checked and counted."""

    @given(case=_strategy(operation))
    @EXAMPLES
    def call(case) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        seen[response.status_code] += 1

    return call


def _run(base_url: str, headers: dict[str, str]) -> tuple[list[str], dict[str, Counter]]:
    """Every operation of the document, EXAMPLES cases each: what failed, by operation, and
    the statuses each operation answered.

    Schemathesis' own pytest integration (`from_fixture`) reads a private attribute that
    pytest 9 no longer has, so the cases are drawn here from each operation's strategy.
    """
    api = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    failures: list[str] = []
    statuses: dict[str, Counter] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:
        seen = statuses[operation.label] = Counter()

        call = _caller(operation, base_url, headers, seen)
        try:
            call()
        except Exception as error:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label}: {error}")
    print({label: dict(counts) for label, counts in statuses.items()})
    return failures, statuses


def test_anonymous(server):
    base_url, _token, _log = server
    failures, statuses = _run(base_url, {})
    assert not failures, "\n\n".join(failures)
    assert set(statuses["GET /api/v1/staff/wishes"]) == {401}
    assert 200 in statuses["GET /api/v1/questionnaires/{slug}"]
    assert 200 in statuses["GET /api/v1/wishes/{code}"]


def test_with_a_staff_token(server):
    base_url, token, _log = server
    failures, statuses = _run(base_url, {"Authorization": f"Bearer {token}"})
    assert not failures, "\n\n".join(failures)
    assert 200 in statuses["GET /api/v1/staff/wishes"]
    assert 200 in statuses["GET /api/v1/staff/wishes/{wish_id}"]
