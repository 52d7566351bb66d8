import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wishes import create_app
from wishes.organisation import store as organisation
from wishes.storage import connect, database_path


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": str(tmp_path / "data"),
            "WISHES_MODELS_DIR": str(tmp_path / "models"),
        }
    )
    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    with connect(database_path(app)) as db:
        yield db


def csrf_token(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def submit_wish(client):
    """Post the phone form like a browser would (token from the page), returning the response."""

    def submit(path="/w/new", **fields):
        data = {
            "text": "希望护士站能借到吹风机",
            "department": "",
            "csrf_token": csrf_token(client, path),
        }
        data.update(fields)
        return client.post(path, data=data)

    return submit


# ---- staff ----------------------------------------------------------------------------------

PASSWORD = "correct horse battery"

# Visitors of the authorisation tables: username -> (role, branch). Branch A is pediatrics.
STAFF = {
    "member_a": ("member", "pediatrics"),
    "member_b": ("member", "logistics"),
    "secretary_a": ("secretary", "pediatrics"),
    "secretary_b": ("secretary", "logistics"),
    "triager": ("triager", None),
    "manager": ("manager", None),
    "admin": ("admin", None),
}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """scrypt at production cost takes ~50 ms a hash; tests use the same KDF at a low cost."""
    from wishes.accounts import store

    monkeypatch.setattr(store, "PASSWORD_METHOD", "scrypt:1024:8:1")


@pytest.fixture
def staff(db):
    """One account per kind of visitor in STAFF; returns username -> user row."""
    from wishes.accounts import store

    return {
        name: store.create_user(db, name, PASSWORD, role, branch_code=branch, display_name=name)
        for name, (role, branch) in STAFF.items()
    }


def login(client, username, password=PASSWORD, **kwargs):
    """Log in through the real login form; returns the response."""
    return client.post(
        "/login" + kwargs.pop("query", ""),
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(client, "/login"),
        },
        **kwargs,
    )


def post_form(client, path, *, follow_redirects=False, **fields):
    """Post a form the way a browser does: the CSRF token from the same page, then the fields."""
    return client.post(
        path,
        data={**fields, "csrf_token": csrf_token(client, path)},
        follow_redirects=follow_redirects,
    )


def page_token(response):
    html = response.get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def flashes(html):
    return re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', html)


# A category of need the demo's routing map sends to each demo branch (for tests that route a
# wish to a branch: lifecycle.submit(db, entry, routed_to(branch), branch)).
CATEGORY_OF = {
    "logistics": "daily_items",
    "catering": "meals",
    "outpatient": "appointments",
    "medtech": "exams",
    "pharmacy": "medication",
    "finance": "fees_insurance",
    "nursing": "nursing_care",
    "pediatrics": "child_joy",
    "volunteer": "companionship",
    "office": "praise",
}


def routed_to(branch, confidence=0.9, tags=(), confident=True):
    """The router's decision for a wish whose category the demo map gives to `branch`."""
    from wishes.routing import RouteDecision

    return RouteDecision([(CATEGORY_OF[branch], confidence)], list(tags), "test", confident)


def answer_page_fields(html: str) -> dict[str, str]:
    """The hidden fields a questionnaire page sends back: token, page id, questions shown."""
    return dict(
        re.findall(r'name="(csrf_token|submission_id|shown_keys)"[^>]*value="([^"]*)"', html)
    )


# ---- a receiver of webhooks -----------------------------------------------------------------


class Receiver:
    """An HTTP server of the test's own (a WeChat group robot, an SMS gateway, the hospital's
    webhook receiver): keeps every request (method, path, headers, raw body, its JSON if any)
    and answers as told (`status`, `body`, after `delay` seconds, or `garbage` that is not HTTP).
    """

    def __init__(self, path: str, body: bytes = b'{"errcode":0,"errmsg":"ok"}') -> None:
        self.received: list[dict] = []
        self.status = 200
        self.body = body
        self.delay = 0.0
        self.garbage = False
        self.called = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                receiver.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "content_type": self.headers.get("Content-Type"),
                        "body": raw,
                        "json": parsed,
                    }
                )
                receiver.called.set()
                time.sleep(receiver.delay)
                if receiver.garbage:
                    self.wfile.write(b"\x00\x01 not HTTP at all\r\n\r\n")
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            do_POST = do_GET = do_PUT = _answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.handle_error = lambda request, address: None  # a client that gave up
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def webhook():
    """A WeChat group robot: answers {"errcode": 0} unless told otherwise."""
    hook = Receiver("/cgi-bin/webhook/send?key=secret-key")
    yield hook
    hook.close()
