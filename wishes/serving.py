"""Gunicorn hooks for `wishes serve`: the notification worker runs beside the web server.

Used as `gunicorn --config python:wishes.serving ...`; every other option is given on the
command line. Both hooks run in gunicorn's master process, so a server has exactly one
notification worker however many web workers it forks, and requests never deliver anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

STOP_TIMEOUT_SECONDS = 5

_notify: subprocess.Popen[bytes] | None = None


def when_ready(server: Any) -> None:
    """Start the notification worker once the server listens, then say where it listens."""
    global _notify
    if _notify is not None and _notify.poll() is None:
        return
    _notify = subprocess.Popen([sys.executable, "-m", "wishes.notifications"])
    server.log.info("notification worker started (pid %s)", _notify.pid)
    bind = os.environ.get("WISHES_BIND", "127.0.0.1:8000")
    print(
        f"点亮微心愿 is ready: open http://{bind}/  "
        "(kiosk /kiosk, phone /w/new, staff /login; Ctrl+C stops it)",
        flush=True,
    )


def on_exit(server: Any) -> None:
    """Stop the notification worker with the server: SIGTERM, then SIGKILL after 5 s."""
    global _notify
    process, _notify = _notify, None
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.log.warning("notification worker (pid %s) did not stop: killed", process.pid)
        process.kill()
        process.wait()
