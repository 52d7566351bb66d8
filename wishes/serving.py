"""`wishes serve`: the app under waitress, with the notification worker beside it.

Why waitress: its I/O loop reads each request whole (headers and body, a large body into a
temporary file) before a request thread sees it, and writes each response out the same way.
A client that trickles its body or stalls holds a socket, never one of the threads, so ten
slow clients cannot stop the kiosk answering (issue 21, item 12). gunicorn's threads read the
body themselves, and its documentation asks for a buffering proxy in front for this reason.

One process: the router and jieba are loaded once, and a hospital's load (docs/performance.md)
fits one core. The notification worker is a process of its own, so requests never deliver.
"""

from __future__ import annotations

import gc
import logging
import signal
import subprocess
import sys
import time
from types import FrameType

from flask import Flask, Response, g, request
from waitress.server import create_server

from . import questionnaires, search, similar, storage
from .routing import tokenizer

STOP_TIMEOUT_SECONDS = 5
# Connections held open at once (each costs a socket, no thread): far above what a hospital's
# kiosks, phones and staff open, so a few hundred idle clients cannot lock the others out.
CONNECTION_LIMIT = 1000
# A client that sends nothing for this long is dropped (waitress's default is 120 s).
IDLE_SECONDS = 30

access_log = logging.getLogger("wishes.access")


def prepare(app: Flask) -> Flask:
    """Load what requests need before the first one: the router's model, jieba's dictionary
    (search cuts words with it even with no model yet; loaded in a request it took 0.4 s),
    the search words cut again if the dictionary changed."""
    if (warning := storage.sqlite_warning()) and not app.config["WISHES_DEMO"]:
        app.logger.warning(warning)  # a hospital's data: the demo's is made up
    app.extensions["wishes.router"].refresh()
    tokenizer()
    questionnaires.comment_sentiment()  # trained here (a second), not in a patient's request
    similar.prepare()  # the weights of similar wishes' words (0.1 s)
    with storage.connect(storage.database_path(app)) as db:
        recut = search.reindex_if_needed(
            db, lambda done, total: app.logger.warning("search words: %d of %d wishes", done, total)
        )
    if recut:
        app.logger.warning("search words of %d stored wishes cut with the new dictionary", recut)
    # What is loaded by now (the router, jieba's dictionary, the libraries) lives as long as the
    # process. Frozen, the collector no longer walks it: a full collection took 78 ms over it,
    # in the middle of some request (docs/performance.md, fix 15).
    gc.freeze()
    return app


def keep_access_log(app: Flask) -> None:
    """One line a request, as a hospital's server keeps (the demo's console stays quiet)."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            '%s "%s %s" %s %d ms',
            request.remote_addr,
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            took,
        )
        return response


def serve(app: Flask, bind: str, threads: int, *, quiet: bool) -> None:
    """Listen at `bind` until SIGTERM or Ctrl+C, then stop the notification worker too."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    if quiet:  # the demo: "Task queue depth is 1" when a few requests wait a moment
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    else:
        keep_access_log(app)
    server = create_server(
        app,
        listen=bind,
        threads=threads,
        # Larger bodies are refused before they are read (413), never buffered.
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=IDLE_SECONDS,
        asyncore_use_poll=True,  # select() stops at 1,024 sockets
        ident="",  # no server name and version in every response
        # X-Forwarded-* reach the app, which believes them only for WISHES_PROXY_HOPS proxies
        # (werkzeug's ProxyFix): waitress would drop them, and every client behind a proxy
        # would be the proxy's address, sharing one rate limit and login throttle.
        clear_untrusted_proxy_headers=False,
    )
    notify = subprocess.Popen([sys.executable, "-m", "wishes.notifications"])
    if not quiet:
        logging.getLogger("wishes").info("notification worker started (pid %s)", notify.pid)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    print(
        f"点亮微心愿 is ready: open http://{bind}/  "
        "(kiosk /kiosk, phone /w/new, staff /login; Ctrl+C stops it)",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        _stop_worker(notify)


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s: the server never exits leaving the worker behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logging.getLogger("wishes").warning("notification worker (pid %s) killed", process.pid)
        process.kill()
        process.wait()
