"""`python -m wishes.notifications`: the notification worker that `wishes.serving` starts.

It runs beside gunicorn as a child of its master process, and stops when told (SIGTERM) or
when that master disappears without telling it (killed), so it is never left behind.
"""

from __future__ import annotations

import os
import threading

from wishes import create_settings_app
from wishes.notifications.worker import run_forever, show_info_logs

PARENT_CHECK_SECONDS = 1.0


def _stop_when_orphaned(stop: threading.Event) -> None:
    parent = os.getppid()
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            stop.set()


def main() -> None:
    app = create_settings_app()
    if not app.config["WISHES_DEMO"]:  # the demo's made-up deliveries would fill the console
        show_info_logs()
    stop = threading.Event()
    threading.Thread(target=_stop_when_orphaned, args=(stop,), daemon=True).start()
    run_forever(app, stop)


if __name__ == "__main__":
    main()
