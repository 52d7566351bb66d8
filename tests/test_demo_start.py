"""Starting the demo as a newcomer does (issue 21, item 11): a second start installs nothing and
needs no network, the console says what happens and ends with the address to open, and
`wishes serve --help` says how to choose the address and port."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from wishes.settings import PROJECT_ROOT

WISHES = str(Path(sys.executable).parent / "wishes")


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WISHES_")}
    env.update(WISHES_DATA_DIR=str(tmp_path / "data"), WISHES_MODELS_DIR=str(tmp_path / "models"))
    env.update(extra)
    return env


def test_a_second_start_of_the_demo_installs_nothing_and_needs_no_network(tmp_path):
    """With the app installed from this pyproject.toml, ./scripts/demo goes straight to the
    server: pip is never run, so no package index is needed (here none is reachable)."""
    stamp = PROJECT_ROOT / ".venv" / ".installed-from"
    if (PROJECT_ROOT / ".venv" / "bin" / "wishes").exists():
        digest = hashlib.sha256((PROJECT_ROOT / "pyproject.toml").read_bytes()).hexdigest()
        stamp.write_text(digest[:16] + "\n")
    offline = _clean_env(
        tmp_path, PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/", npm_config_offline="true"
    )
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "demo"), "--help"],
        env=offline,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "installing" not in done.stdout and "Usage:" in done.stdout


def test_serve_help_says_how_to_choose_the_address_and_port():
    shown = subprocess.run([WISHES, "serve", "--help"], capture_output=True, text=True).stdout
    assert "--bind HOST:PORT" in shown and "WISHES_BIND" in shown and "0.0.0.0:8080" in shown


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def demo_server(tmp_path: Path, threads: int) -> Iterator[tuple[int, Path]]:
    """`wishes serve --demo` on a free port, as ./scripts/demo starts it, until it says it is
    ready; yields the port and its console's log, and stops it (and its worker) after."""
    port = _free_port()
    log = tmp_path / "console.log"
    with open(log, "wb") as console:
        server = subprocess.Popen(
            [WISHES, "serve", "--demo", "--bind", f"127.0.0.1:{port}"],
            env=_clean_env(tmp_path, WISHES_THREADS=str(threads)),
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "is ready" not in log.read_text(errors="replace"):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield port, log
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def test_the_demo_says_what_it_does_and_ends_with_its_address(tmp_path):
    with demo_server(tmp_path, threads=1) as (port, log):
        for path in ("/kiosk", "/static/css/app.css", "/w/new"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
        time.sleep(1.5)  # room for anything the server would still write
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    said = "\n".join(lines)
    assert lines[-1].startswith(f"点亮微心愿 is ready: open http://127.0.0.1:{port}/"), said
    assert "first start: training the router" in said and "demo hospital ready" in said
    for noise in ("GET /static", "[notify]", "predates", "precision", "Booting worker"):
        assert noise not in said, noise
    assert len(lines) <= 8, said


def test_slow_clients_never_hold_the_request_threads(tmp_path):
    """Issue 21, item 12: clients that trickle a POST body a byte at a time, more of them than
    the server has threads, must not stop /kiosk answering everyone else."""
    slow: list[socket.socket] = []
    with demo_server(tmp_path, threads=2) as (port, _log):
        try:
            for _ in range(6):  # three times the threads
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(
                    b"POST /w/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
                    b"urlencoded\r\nContent-Length: 1000\r\n\r\nw"
                )
                slow.append(client)
            for _ in range(3):
                time.sleep(1)
                for client in slow:
                    client.sendall(b"x")  # still sending, a byte at a time
                started = time.monotonic()
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/kiosk", timeout=10)
                assert page.status == 200 and time.monotonic() - started < 5
        finally:
            for client in slow:
                client.close()
