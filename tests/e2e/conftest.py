"""The production server and a real browser, shared by every browser test.

`server` starts `wishes serve --demo` as the README's run command does (waitress, the
notification worker, the demo hospital with its accounts), from this virtualenv, on a free port
in 8200-8299, with its own data and model folders under /tmp/e2e-*, and stops it when the
browser tests are done. `browser` is Debian's chromium (/usr/bin/chromium) driven by
Playwright, never a browser Playwright downloads; ./scripts/test installs it when missing.

Each test opens browser contexts shaped like the devices people use (`KIOSK`, `PHONE`, `DESK`)
with `browse`; a `Watch` on each context collects what a user's browser would complain about:
console errors, uncaught exceptions, failed requests and 4xx/5xx answers. Screenshots of each
step go to test-artifacts/e2e/<test>/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import Receiver
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from wishes.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
PORTS = range(8200, 8300)
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "e2e"

# The demo accounts (README): one per role, all with this password.
PASSWORD = "light-a-wish-2026"
BRANCH_NAMES = {"pediatrics": "儿科党支部", "logistics": "总务后勤党支部"}

# Short kiosk timers, so the idle test waits seconds rather than the default 90.
IDLE_SECONDS = 6
WARNING_SECONDS = 3

# The devices of the brief: a lobby kiosk (touch only), a phone (WeChat's browser), a desk.
COMMON = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
KIOSK = {"viewport": {"width": 1920, "height": 1080}, "has_touch": True}
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}
DESK = {"viewport": {"width": 1366, "height": 768}}

expect.set_options(timeout=10_000)


# ---- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    data_dir: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def rows(self, sql: str, *params) -> list[sqlite3.Row]:
        """Read the live database (read-only) to pick sample data or check a result."""
        uri = f"file:{self.data_dir / 'wishes.db'}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1} for the browser tests' server")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


class Gateway(Receiver):
    """The hospital's SMS platform as the browser tests see it: the tests' receiver, keeping
    every text the app sends it (JSON bodies, as WISHES_SMS_BODY's default writes)."""

    def __init__(self) -> None:
        super().__init__("/sms", body=b"ok")

    def texts_to(self, phone: str, count: int, seconds: float = 20) -> list[str]:
        """The texts sent to `phone`, once there are `count` of them (the worker's rounds)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sent = [request["json"] or {} for request in self.received]
            texts = [t["text"] for t in sent if t.get("phone") == phone]
            if len(texts) >= count:
                return texts
            time.sleep(0.2)
        pytest.fail(f"{count} texts to {phone} expected in {seconds} s; got {self.received}")


@pytest.fixture(scope="package")
def gateway():
    running = Gateway()
    yield running
    running.close()


@pytest.fixture(scope="package")  # stopped once the browser tests are done
def server(gateway):
    root = Path(tempfile.mkdtemp(prefix="e2e-", dir="/tmp"))
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("WISHES_")}
    env.update(
        WISHES_DATA_DIR=str(root / "data"),
        WISHES_MODELS_DIR=str(root / "models"),
        WISHES_BIND=f"127.0.0.1:{port}",
        WISHES_KIOSK_IDLE_SECONDS=str(IDLE_SECONDS),
        WISHES_KIOSK_WARNING_SECONDS=str(WARNING_SECONDS),
        WISHES_RATE_LIMIT_FACTOR="0",  # every browser here shares one address
        WISHES_SMS_SENDER="http",  # patients' texts reach the tests' gateway
        WISHES_SMS_URL=gateway.url,
        WISHES_NOTIFY_INTERVAL_SECONDS="1",
    )
    wishes = Path(sys.executable).parent / "wishes"
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(wishes), "serve", "--demo"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # trains the bundled router first: ~10 s
        while not _answers(base_url + "/healthz"):
            if process.poll() is not None:
                pytest.fail(
                    f"wishes serve --demo exited ({process.returncode}):\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"wishes serve --demo did not answer /healthz in 120 s:\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.2)
        yield Server(base_url, root / "data")
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # gunicorn, its workers and the notifier
            process.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "server.log")
        shutil.rmtree(root, ignore_errors=True)


# ---- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="package")  # stopped once the browser tests are done
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: ./scripts/test installs it "
            "(apt-get install chromium fonts-wqy-microhei)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package", autouse=True)
def _fresh_artifacts():
    """Screenshots of this run only: an old run's pictures would mislead."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)


@dataclass
class Watch:
    """What a user's browser complains about on any page of one context.

    `allow(status, url)` lets one deliberate answer through (a form sent with a mistake answers
    400): that status from that URL, and Chromium's console line about it, nothing else.
    A request aborted because its page was left (a test clicks on before the favicon or a
    deferred script has arrived; a person is never that fast) is no complaint; one aborted on a
    page that is still shown is.
    """

    problems: list[str] = field(default_factory=list)
    allowed: set[tuple[int, str]] = field(default_factory=set)
    _navigations: dict = field(default_factory=dict, repr=False)  # page -> how many so far
    _sent_on: dict = field(default_factory=dict, repr=False)  # request -> (page, navigations)
    _aborted: list = field(default_factory=list, repr=False)

    def attach(self, context: BrowserContext) -> None:
        context.on("page", self._page)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"uncaught {error.error}"))
        context.on("request", self._request)
        context.on("requestfailed", self._failed)
        context.on("requestfinished", lambda request: self._sent_on.pop(request, None))
        context.on("response", self._response)

    def allow(self, status: int, url: str) -> None:
        self.allowed.add((status, url))

    def _page(self, page: Page) -> None:
        self._navigations[page] = 0

        def navigated(frame) -> None:
            if frame == page.main_frame:
                self._navigations[page] += 1

        page.on("framenavigated", navigated)

    def _request(self, request) -> None:
        try:
            page = request.frame.page
        except Exception:  # a request of no page (a worker's)
            return
        self._sent_on[request] = (page, self._navigations.get(page, 0))

    def _failed(self, request) -> None:
        sent_on = self._sent_on.pop(request, None)
        complaint = f"request failed: {request.method} {request.url} ({request.failure})"
        if request.failure == "net::ERR_ABORTED" and sent_on is not None:
            self._aborted.append((sent_on, complaint))  # judged in take(), once pages settled
        else:
            self.problems.append(complaint)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        text, url = message.text, message.location.get("url", "")
        status = re.search(r"the server responded with a status of (\d{3})", text)
        if status and (int(status.group(1)), url) in self.allowed:
            return
        self.problems.append(f"console error on {url}: {text}")

    def _response(self, response) -> None:
        if response.status >= 400 and (response.status, response.url) not in self.allowed:
            self.problems.append(f"{response.status} {response.request.method} {response.url}")

    def take(self) -> list[str]:
        """The problems seen since the last call."""
        for (page, navigations), complaint in self._aborted:
            if self._navigations.get(page) == navigations:  # still on the page that lost it
                self.problems.append(complaint)
        seen, self.problems, self._aborted = self.problems, [], []
        return seen


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    watch: Watch

    def assert_clean(self) -> None:
        problems = self.watch.take()
        assert problems == [], "the browser complained:\n" + "\n".join(problems)


@pytest.fixture
def browse(browser, server):
    """browse(device) -> a Tab: a fresh context (own cookies) shaped like `device`, watched."""
    opened: list[BrowserContext] = []

    def open_tab(device: dict, **options) -> Tab:
        context = browser.new_context(base_url=server.base_url, **COMMON, **device, **options)
        context.set_default_timeout(15_000)
        opened.append(context)
        watch = Watch()
        watch.attach(context)
        return Tab(context, context.new_page(), watch)

    yield open_tab
    for context in opened:
        context.close()


@pytest.fixture
def shot(request):
    """shot(page, name): a numbered screenshot in test-artifacts/e2e/<test>/."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    taken = []

    def take(page: Page, name: str, **options) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        taken.append(name)
        path = folder / f"{len(taken):02d}-{name}.png"
        page.screenshot(path=path, **options)
        return path

    return take


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the real form, as a person at a desk would."""
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def import_and_publish(office: Page, definition: dict) -> None:
    """The office (logged in) uploads a questionnaire's JSON and publishes it."""
    office.goto("/admin/questionnaires")
    office.locator("input[type=file]").set_input_files(
        {
            "name": f"{definition['slug']}.json",
            "mimeType": "application/json",
            "buffer": json.dumps(definition, ensure_ascii=False).encode(),
        }
    )
    office.get_by_role("button", name="导入").click()
    office.locator("form[action$='/publish'] button[type=submit]").first.click()
    expect(office.locator(".flash, .flash-success").first).to_contain_text("已发布")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def tiny_png() -> bytes:
    """A real 4x4 PNG (a photo of the fulfilled wish, for staff)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\xc0\x40" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
