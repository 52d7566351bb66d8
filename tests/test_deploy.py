"""The deployment files in deploy/ (docs/deployment.md): the systemd unit and its environment
file, the nginx site, the container image and the upgrade script, each checked here.

Static checks always run; `systemd-analyze`, `nginx` and `openssl` are used when installed (the
test says so when it skips). The upgrade script runs for real against a `wishes serve` of the
test's own, with the service manager and the install step replaced by commands of the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import csrf_token
from markupsafe import escape

from wishes import create_app, settings
from wishes.organisation import store as organisation
from wishes.storage import connect, database_path
from wishes.storage.backup import our_migrations

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "wishes.service"
ENV_FILE = DEPLOY / "wishes.env"
NGINX_SITE = DEPLOY / "nginx.conf"
CONTAINERFILE = DEPLOY / "Containerfile"
UPGRADE = DEPLOY / "upgrade"
BIN = Path(sys.executable).parent
WISHES = BIN / "wishes"

# The public forms and pages, by endpoint, and the nginx limit that must guard each.
FORM_POSTS = {"intake.wish_form", "intake_kiosk.wish_form", "survey.answer", "survey_kiosk.answer"}
TRACKING = {
    "tracking.lookup",
    "tracking.wish_status",
    "tracking_kiosk.lookup",
    "tracking_kiosk.wish_status",
    "texts.stop",  # the link in a patient's text that stops further texts
}
LOGINS = {"accounts.login", "setup.code"}
# What the app needs to know that it is behind the proxy (deploy/wishes.env).
PROXY_SETTINGS = {"WISHES_PROXY_HOPS", "WISHES_HTTPS"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without WISHES_* (the app refuses names it does not know)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHES_")}
    env.update(extra)
    return env


def which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """A trained router, shared by this module's servers (else each trains its own first)."""
    folder = tmp_path_factory.mktemp("models")
    subprocess.run(
        [str(WISHES), "train", "--no-db"],
        env=clean_env(
            WISHES_DATA_DIR=str(tmp_path_factory.mktemp("train")), WISHES_MODELS_DIR=str(folder)
        ),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def start_server(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`wishes serve` in a process group of its own (with its notification worker)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [str(WISHES), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    except ProcessLookupError:
        server.wait()
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# ---- `wishes serve` as the unit and the image start it ------------------------------------


@dataclass(frozen=True)
class ServeHelp:
    """What `wishes serve --help` says it accepts."""

    options: dict[str, bool]  # option -> takes a value


@pytest.fixture(scope="module")
def serve_help(tmp_path_factory) -> ServeHelp:
    data = tmp_path_factory.mktemp("help")
    result = subprocess.run(
        [str(WISHES), "serve", "--help"],
        env=clean_env(WISHES_DATA_DIR=str(data / "data"), WISHES_MODELS_DIR=str(data / "m")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    usage = re.search(r"Usage: \S+ serve (.*)", result.stdout)
    assert usage, result.stdout
    options = {}
    for line in result.stdout.splitlines():
        if found := re.match(r"\s+(?:-\w, )?(--[\w-]+)(?:[ =]([A-Z][\w:]*))?(?:\s|$)", line):
            options[found.group(1)] = bool(found.group(2))
    assert "--bind" in options, result.stdout
    return ServeHelp(options)


def check_serve_command(argv: list[str], serve_help: ServeHelp) -> dict[str, str]:
    """ARGV is `.../wishes serve` with options `wishes serve --help` lists, each with its value
    when it takes one, and nothing else; returns the options given."""
    assert Path(argv[0]).name == "wishes", argv
    assert argv[1:2] == ["serve"], argv
    given: dict[str, str] = {}
    rest = argv[2:]
    while rest:
        word = rest.pop(0)
        name, equals, value = word.partition("=")
        assert name in serve_help.options, f"`wishes serve` has no option {name}: {argv}"
        if serve_help.options[name]:
            if not equals:
                assert rest and not rest[0].startswith("-"), f"{name} needs a value: {argv}"
                value = rest.pop(0)
        else:
            assert not equals, f"{name} takes no value: {argv}"
        given[name] = value
    # The same arguments through click itself (parsed only, nothing is started).
    from wishes.commands import serve_command

    serve_command.make_context("serve", argv[2:])
    if "--bind" in given:
        assert re.fullmatch(r"(\[[0-9a-f:]+\]|[\w.-]+):\d{1,5}", given["--bind"]), given
    return given


# ---- the systemd unit ----------------------------------------------------------------------


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path}: {line!r} outside a section"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for k, value in section if k == key]


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd's EnvironmentFile reads them (comments, optional quotes)."""
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path}: not NAME=value: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def test_unit_serves_the_app_as_its_own_user_with_the_hardening_asked_for(serve_help):
    service = read_unit(UNIT)["Service"]
    (user,) = unit_values(service, "User")
    assert user not in {"", "root", "0"}
    assert unit_values(service, "EnvironmentFile")
    assert unit_values(service, "WorkingDirectory")
    (exec_start,) = unit_values(service, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[0].startswith("/") and argv[0].endswith("/.venv/bin/wishes"), argv
    options = check_serve_command(argv, serve_help)
    assert options["--bind"].startswith("127.0.0.1:"), "only the local proxy may connect"
    expected = {
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert unit_values(service, key) == [value], key
    # What the app writes (WISHES_DATA_DIR, WISHES_MODELS_DIR) is writable, nothing else.
    writable = [Path(p) for v in unit_values(service, "ReadWritePaths") for p in v.split()]
    writable += [
        Path("/var/lib") / d for v in unit_values(service, "StateDirectory") for d in v.split()
    ]
    env = read_env_file(ENV_FILE)
    for name in ("WISHES_DATA_DIR", "WISHES_MODELS_DIR"):
        folder = Path(env[name])
        assert any(folder.is_relative_to(w) for w in writable), (name, folder, writable)
    # `wishes restore` looks for a running server at WISHES_BIND: the address it listens on.
    assert env["WISHES_BIND"] == options["--bind"]
    assert unit_values(read_unit(UNIT)["Install"], "WantedBy") == ["multi-user.target"]


def test_environment_file_holds_settings_the_app_knows_and_accepts():
    env = read_env_file(ENV_FILE)
    unknown = sorted(set(env) - set(settings.SETTINGS_BY_NAME))
    assert not unknown, f"the app would refuse to start: {unknown}"
    loaded = settings.load(env)  # every value parses
    # Behind the proxy: its X-Forwarded-* are believed for one hop, cookies only over HTTPS.
    assert loaded["WISHES_PROXY_HOPS"] == 1
    assert loaded["WISHES_HTTPS"] is True
    assert Path(loaded["WISHES_DATA_DIR"]).is_absolute()


@pytest.fixture
def unit_copy(tmp_path) -> Path:
    """The unit with this machine's paths: its ExecStart and EnvironmentFile must exist."""
    service = read_unit(UNIT)["Service"]
    (exec_start,) = unit_values(service, "ExecStart")
    (env_file,) = unit_values(service, "EnvironmentFile")
    env_copy = tmp_path / "wishes.env"
    shutil.copy(ENV_FILE, env_copy)
    text = UNIT.read_text(encoding="utf-8")
    text = text.replace(shlex.split(exec_start)[0], str(WISHES))
    text = text.replace(env_file, str(env_copy))
    copy = tmp_path / "wishes.service"
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.skipif(not which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit_and_rates_its_exposure_low(unit_copy):
    analyze = which("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", str(unit_copy)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 even for an unknown key or a bad value: it only says so.
    said = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if unit_copy.name in line or str(unit_copy.parent) in line
    ]
    assert result.returncode == 0 and not said, result.stdout + result.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", "--no-pager", str(unit_copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "offline" in security.stderr and "unrecognized" in security.stderr:
        pytest.skip("this systemd-analyze has no `security --offline` (systemd < 250)")
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr
    assert exposure and float(exposure.group(1)) <= 2.0, security.stdout[-3000:]


# ---- the nginx site ------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive | None:
        found = self.all(name)
        assert len(found) <= 1, f"{name} twice in {self.name} {self.args}"
        return found[0] if found else None

    def value(self, name: str) -> str | None:
        found = self.one(name)
        return " ".join(found.args) if found else None


def parse_nginx(text: str) -> Directive:
    """nginx's configuration syntax: directives ending in `;`, blocks in braces, # comments."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};"\']+', re.sub(r"#[^\n]*", "", text))
    position = 0

    def block() -> list[Directive]:
        nonlocal position
        items: list[Directive] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                items.append(Directive(words[0], words[1:]))
                words = []
            elif token == "{":
                items.append(Directive(words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, words
                return items
            else:
                words.append(token[1:-1] if token[0] in "'\"" else token)
        assert not words, words
        return items

    return Directive("main", [], block())


def size_in_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h)?", value).groups()
    return int(number) * {None: 1, "s": 1, "m": 60, "h": 3600}.get(unit, 0)


def choose_location(server: Directive, path: str) -> Directive:
    """The location nginx picks for PATH: an exact match, else the first regular expression
    that matches, else the longest prefix (this site uses no ^~ and no nested locations)."""
    locations = server.all("location")
    for location in locations:
        if location.args[0] == "=" and location.args[1] == path:
            return location
    for location in locations:
        if location.args[0] in ("~", "~*"):
            flags = re.IGNORECASE if location.args[0] == "~*" else 0
            if re.search(location.args[1], path, flags):
                return location
    prefixes = [loc for loc in locations if len(loc.args) == 1 and path.startswith(loc.args[0])]
    assert prefixes, f"no location serves {path}"
    return max(prefixes, key=lambda loc: len(loc.args[0]))


def sample_path(rule: str) -> str:
    """A URL the rule matches: each <converter:name> replaced by a plausible value."""

    def value(match: re.Match) -> str:
        converter, arguments, name = match.groups()
        if converter == "any":
            return arguments.split(",")[0].strip().strip("'\"")
        if converter == "int":
            return "1"
        if converter == "path":
            return "css/app.css"
        return {"code": "ABCDEFG", "fmt": "csv", "kind": "branch"}.get(name, "x")

    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>", value, rule)


@pytest.fixture(scope="module")
def site() -> Directive:
    return parse_nginx(NGINX_SITE.read_text(encoding="utf-8"))


def servers(site: Directive) -> tuple[Directive, Directive]:
    """(the plain HTTP server, the HTTPS server)."""
    plain = [s for s in site.all("server") if not any("ssl" in d.args for d in s.all("listen"))]
    secure = [s for s in site.all("server") if any("ssl" in d.args for d in s.all("listen"))]
    assert len(plain) == 1 and len(secure) == 1
    return plain[0], secure[0]


def test_nginx_site_redirects_to_https_and_holds_slow_clients_and_bodies_short(site, app):
    plain, secure = servers(site)
    for location in plain.all("location"):
        assert location.value("return") == "301 https://$host$request_uri"
    assert secure.value("ssl_certificate") and secure.value("ssl_certificate_key")
    for name in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert seconds(secure.value(name)) <= 30, name
    assert secure.value("proxy_request_buffering") == "on"
    # The body limit is the app's own: an upload the app takes is never cut by the proxy.
    assert size_in_bytes(secure.value("client_max_body_size")) == app.config["MAX_CONTENT_LENGTH"]
    headers = {d.args[0].lower(): d.args[1] for d in secure.all("proxy_set_header")}
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["host"] == "$host"
    # The upstream is where the unit's `wishes serve --bind` listens.
    (upstream,) = site.all("upstream")
    (exec_start,) = unit_values(read_unit(UNIT)["Service"], "ExecStart")
    bind = shlex.split(exec_start)[shlex.split(exec_start).index("--bind") + 1]
    assert upstream.one("server").args[0] == bind
    assert all(
        loc.value("proxy_pass") == f"http://{upstream.args[0]}" for loc in secure.all("location")
    )


def test_nginx_site_limits_each_public_form_and_no_staff_upload(site, app):
    _, secure = servers(site)
    zones = {d.args[1].split("=")[1].split(":")[0] for d in site.all("limit_req_zone")}
    server_body = size_in_bytes(secure.value("client_max_body_size"))
    checked = set()
    for rule in app.url_map.iter_rules():
        path = sample_path(rule.rule)
        location = choose_location(secure, path)
        limit = location.one("limit_req")
        body = location.value("client_max_body_size")
        body = size_in_bytes(body) if body else server_body
        if rule.endpoint in FORM_POSTS | TRACKING | LOGINS:
            assert limit, f"{rule.rule} ({rule.endpoint}) has no rate limit at the proxy"
            zone = limit.args[0].removeprefix("zone=")
            assert zone in zones, zone
            # The app answers a too large form itself (MAX_FORM_MEMORY_SIZE), with its page.
            assert app.config["MAX_FORM_MEMORY_SIZE"] <= body < app.config["MAX_CONTENT_LENGTH"]
            checked.add(rule.endpoint)
        elif "POST" in rule.methods:
            assert body == app.config["MAX_CONTENT_LENGTH"], f"{rule.rule}: uploads cut short"
    assert checked == FORM_POSTS | TRACKING | LOGINS, "an endpoint was renamed: update FORM_POSTS"


@contextmanager
def nginx_config(tmp_path: Path, **ports: int) -> Iterator[Path]:
    """The site in a main configuration of its own: a self-signed certificate, logs and temp
    files in TMP_PATH; with PORTS (http, https, app) it listens on them instead."""
    openssl = which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed (needed for a self-signed certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    text = NGINX_SITE.read_text(encoding="utf-8")
    text = text.replace("/etc/ssl/wishes/fullchain.pem", str(cert))
    text = text.replace("/etc/ssl/wishes/privkey.pem", str(key))
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    if ports:
        text = re.sub(r"listen \[::\]:\d+[^;]*;", "", text)
        text = text.replace("listen 80;", f"listen 127.0.0.1:{ports['http']};")
        text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{ports['https']} ssl;")
        text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{ports['app']};")
    site = tmp_path / "wishes-site.conf"
    site.write_text(text, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        + f"http {{\n    access_log {tmp_path}/access.log;\n{temp}\n    include {site};\n}}\n",
        encoding="utf-8",
    )
    yield main


def nginx_command(tmp_path: Path, main: Path) -> list[str]:
    nginx = which("nginx")
    return [nginx, "-p", f"{tmp_path}/", "-e", f"{tmp_path}/startup.log", "-c", str(main)]


@pytest.mark.skipif(not which("nginx"), reason="nginx is not installed")
def test_nginx_accepts_the_site(tmp_path):
    with nginx_config(tmp_path) as main:
        result = subprocess.run(
            nginx_command(tmp_path, main) + ["-t"], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


class Client:
    """HTTPS to nginx from 127.0.0.2, so the app's view of the client is told apart from
    nginx's own 127.0.0.1."""

    def __init__(self, port: int, source: str = "127.0.0.2"):
        self.port, self.source = port, source
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def request(self, method, path, body=None, headers=None, send_body=True):
        conn = http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            context=self.context,
            timeout=15,
            source_address=(self.source, 0),
        )
        try:
            if send_body:
                conn.request(method, path, body=body, headers=headers or {})
            else:  # the headers only, announcing a body that never comes
                conn.putrequest(method, path)
                for name, value in (headers or {}).items():
                    conn.putheader(name, value)
                conn.endheaders()
            response = conn.getresponse()
            return response.status, response.headers, response.read().decode("utf-8", "replace")
        finally:
            conn.close()


@pytest.mark.skipif(not which("nginx"), reason="nginx is not installed")
def test_nginx_in_front_of_the_app_passes_the_client_address_and_applies_the_limits(
    tmp_path, models_dir
):
    # The app as the unit runs it: `wishes serve` with the example's proxy settings.
    ports = {"http": free_port(), "https": free_port(), "app": free_port()}
    env = clean_env(
        WISHES_DATA_DIR=str(tmp_path / "data"),
        WISHES_MODELS_DIR=str(models_dir),
        WISHES_BIND=f"127.0.0.1:{ports['app']}",
        **{k: v for k, v in read_env_file(ENV_FILE).items() if k in PROXY_SETTINGS},
    )
    setup = create_app(
        {"WISHES_DATA_DIR": env["WISHES_DATA_DIR"], "WISHES_MODELS_DIR": str(models_dir)}
    )
    live = database_path(setup)
    with connect(live) as db:  # set up: the patient pages open
        organisation.load_organisation(db, organisation.read_organisation_file())
    log_path = tmp_path / "serve.log"
    backend = start_server(env, log_path)
    try:
        wait_until_answers(ports["app"], 60, backend, log_path)
        with nginx_config(tmp_path, **ports) as main:
            nginx = subprocess.Popen(
                nginx_command(tmp_path, main) + ["-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        try:
            client = Client(ports["https"])
            deadline = time.monotonic() + 15
            while True:
                try:
                    assert client.request("GET", "/healthz")[0] == 200
                    break
                except OSError:
                    assert nginx.poll() is None, nginx.stderr.read()
                    assert time.monotonic() < deadline, "nginx did not answer"
                    time.sleep(0.1)

            # Plain HTTP goes to HTTPS.
            with closing(http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=15)) as c:
                c.request("GET", "/w/new?dept=x", headers={"Host": "wishes.hospital.example"})
                response = c.getresponse()
                assert response.status == 301
                assert (
                    response.headers["Location"] == "https://wishes.hospital.example/w/new?dept=x"
                )

            # A public form's body larger than a form may be: refused before it is sent.
            status, _, page = client.request(
                "POST",
                "/w/new",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Length": str(600_000),
                },
                send_body=False,
            )
            assert status == 413 and "<center>nginx</center>" in page, page

            # A flood of posts from one address is cut off by the proxy (the app never sees
            # these: no CSRF token, so the app would only show the form again).
            answers = [
                client.request(
                    "POST",
                    "/w/new",
                    body="text=x",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                for _ in range(30)
            ]
            statuses = [status for status, _, _ in answers]
            assert 429 not in statuses[:20], statuses  # the burst the site allows
            assert statuses[-1] == 429 and "<center>nginx</center>" in answers[-1][2], statuses
            # Another address is not held up by it.
            assert Client(ports["https"], source="127.0.0.3").request("GET", "/w/new")[0] == 200

            # The app sees the client's address, not nginx's, and not what the client claims.
            status, _, _ = client.request(
                "GET", "/t/ABCDEFG", headers={"X-Forwarded-For": "203.0.113.9"}
            )
            assert status == 404
            with closing(sqlite3.connect(live)) as db:
                query = "SELECT key FROM rate_limits WHERE name = 'tracking'"
                keys = {k for (k,) in db.execute(query)}
            assert keys == {"127.0.0.2"}, (
                "the app does not see the client's address that nginx passes on in "
                "X-Forwarded-For (WISHES_PROXY_HOPS=1): does the server behind `wishes serve` "
                "drop it (waitress: clear_untrusted_proxy_headers)?"
            )
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
            nginx.stderr.close()
    finally:
        stop_server(backend)


# ---- the container image -------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    flags: dict[str, str] = field(default_factory=dict)


def read_containerfile(path: Path) -> list[list[Instruction]]:
    """The stages of a Containerfile, each a list of instructions (continuations joined)."""
    logical, buffer = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") and not buffer.strip():
            continue
        if raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        buffer += raw
        if buffer.strip():
            logical.append(buffer.strip())
        buffer = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        flags = {}
        while found := re.match(r"--([\w-]+)=(\S+)\s+", rest):
            flags[found.group(1)] = found.group(2)
            rest = rest[found.end() :]
        instruction = Instruction(keyword.upper(), rest.strip(), flags)
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{line!r} before FROM"
        stages[-1].append(instruction)
    return stages


def exec_form(arguments: str) -> list[str]:
    argv = json.loads(arguments)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), arguments
    return argv


def test_containerfile_copies_what_exists_and_starts_wishes_serve(serve_help, client, app):
    stages = read_containerfile(CONTAINERFILE)
    names = []
    for stage in stages:
        base = stage[0].arguments.split()
        names.append(base[2] if len(base) == 3 and base[1].upper() == "AS" else None)
    final = stages[-1]
    assert final[0].arguments.split()[0].endswith("python:3.11-slim")

    copied: list[str] = []
    for number, stage in enumerate(stages):
        for instruction in stage:
            if instruction.keyword in ("ADD", "COPY"):
                *sources, _ = shlex.split(instruction.arguments)
                if "from" in instruction.flags:
                    assert instruction.flags["from"] in names[:number], instruction
                    continue
                for source in sources:
                    assert list(ROOT.glob(source)), f"COPY {source}: not in the build context"
                    if stage is final:
                        copied.append(source.rstrip("/"))
    # The app reads its templates and static files beside the package (settings.PROJECT_ROOT).
    for folder in (app.template_folder, app.static_folder):
        relative = (Path(app.root_path) / folder).resolve().relative_to(ROOT)
        assert str(relative) in copied, f"{relative} is not in the image"
    final_from = [i.flags.get("from") for i in final if i.keyword == "COPY"]
    assert "vendor" in final_from, "node_modules (the chart library) is not in the image"

    by_keyword: dict[str, list[Instruction]] = {}
    for instruction in final:
        by_keyword.setdefault(instruction.keyword, []).append(instruction)
    run = " ".join(i.arguments for i in by_keyword["RUN"])
    assert re.search(r"pip install .*-e ", run), "a wheel holds no templates: install editable"
    user = by_keyword["USER"][-1].arguments
    assert user not in {"root", "0"}
    assert final.index(by_keyword["USER"][-1]) < final.index(by_keyword["CMD"][-1])

    env: dict[str, str] = {}
    for instruction in by_keyword["ENV"]:
        for pair in shlex.split(instruction.arguments):
            name, _, value = pair.partition("=")
            env[name] = value
    wishes_env = {k: v for k, v in env.items() if k.startswith("WISHES_")}
    assert set(wishes_env) <= set(settings.SETTINGS_BY_NAME)
    settings.load(wishes_env)
    volumes = [Path(v) for i in by_keyword["VOLUME"] for v in shlex.split(i.arguments)]
    for name in ("WISHES_DATA_DIR", "WISHES_MODELS_DIR"):
        assert any(Path(env[name]).is_relative_to(v) for v in volumes), name

    argv = exec_form(by_keyword["CMD"][-1].arguments)
    options = check_serve_command(argv, serve_help)
    port = options["--bind"].rsplit(":", 1)[1]
    assert options["--bind"].startswith("0.0.0.0:"), "the container's port is published"
    assert by_keyword["EXPOSE"][-1].arguments.split() == [port]

    healthcheck = by_keyword["HEALTHCHECK"][-1].arguments
    probe = exec_form(healthcheck.split("CMD", 1)[1].strip())
    assert Path(probe[0]).name.startswith("python") and probe[1] == "-c"
    compile(probe[2], "HEALTHCHECK", "exec")
    url = re.search(r"https?://127\.0\.0\.1:(\d+)(/[\w/]*)", probe[2])
    assert url and url.group(1) == port, probe
    assert client.get(url.group(2)).status_code == 200


def test_the_files_the_image_copies_are_enough_to_serve_the_pages(tmp_path, models_dir):
    """The final stage's COPY instructions carried out into a folder, and the app run from it
    alone (as the image runs it from /opt/wishes): every kind of page and file answers."""
    final = read_containerfile(CONTAINERFILE)[-1]
    workdir = next(i.arguments for i in reversed(final) if i.keyword == "WORKDIR")
    image = tmp_path / "image"
    for instruction in final:
        if instruction.keyword != "COPY":
            continue
        *sources, target = shlex.split(instruction.arguments)
        destination = image / Path(workdir, target).relative_to("/")
        if "from" in instruction.flags:  # node_modules from the npm stage: the checkout's own
            if "node_modules" in target and (ROOT / "node_modules").is_dir():
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.symlink_to(ROOT / "node_modules")
            continue
        for source in sources:
            path = ROOT / source
            into = destination / path.name if target.endswith("/") else destination
            if path.is_dir():
                shutil.copytree(path, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, into)
    app_dir = image / Path(workdir).relative_to("/")
    pages = ["/", "/w/new", "/kiosk", "/t", "/login", "/healthz", "/static/css/app.css"]
    if (ROOT / "node_modules").is_dir():
        pages.append("/vendor/chart.umd.min.js")
    script = (
        "import json, sys, wishes\n"
        "from wishes import create_app\n"
        "from wishes.organisation import store\n"
        "from wishes.storage import connect, database_path\n"
        "app = create_app()\n"
        "with connect(database_path(app)) as db:\n"
        "    store.load_organisation(db, store.read_organisation_file())\n"
        "client = app.test_client()\n"
        "print(json.dumps({'package': wishes.__file__,"
        " 'pages': {p: client.get(p).status_code for p in sys.argv[1:]}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *pages],
        env=clean_env(
            PYTHONPATH=str(app_dir),
            WISHES_DATA_DIR=str(tmp_path / "data"),
            WISHES_MODELS_DIR=str(models_dir),
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(answer["package"]).is_relative_to(app_dir), answer
    assert answer["pages"] == dict.fromkeys(pages, 200)


# ---- the upgrade script --------------------------------------------------------------------


def get(port: int, path: str) -> tuple[int, str]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=15)) as conn:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")


def wait_until_answers(port: int, seconds: float, process=None, log_path=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server exited: {log_path.read_text(errors='replace')}")
        try:
            if get(port, "/healthz")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    log = log_path.read_text(errors="replace") if log_path else ""
    pytest.fail(f"nothing answered on port {port} within {seconds} s\n{log}")


def stop_group(pid: int, port: int) -> None:
    """Stop the process group PID leads (a server the script started: not our child)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def applied(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [n for (n,) in db.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]


def wish_texts(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {text for (text,) in db.execute("SELECT text FROM wishes")}


@pytest.fixture
def installation(app, client, tmp_path, models_dir):
    """A data dir with three wishes (their tracking codes and texts), an environment file for
    it and a free port to serve it on."""
    wishes = {}
    for n in range(3):
        text = f"第{n + 1}床想借一本书看看"
        response = client.post(
            "/w/new",
            data={"text": text, "department": "", "csrf_token": csrf_token(client, "/w/new")},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        wishes[response.headers["Location"].rsplit("/", 1)[1]] = text
    port = free_port()
    env_file = tmp_path / "wishes.env"
    env_file.write_text(
        "# as in /etc/wishes/wishes.env\n"
        f"WISHES_DATA_DIR={app.config['WISHES_DATA_DIR']}\n"
        f'WISHES_MODELS_DIR="{models_dir}"\n'
        f"WISHES_BIND=127.0.0.1:{port}\n"
        "WISHES_HOSPITAL_NAME='升级 测试医院'\n",
        encoding="utf-8",
    )
    return {"wishes": wishes, "port": port, "env_file": env_file, "db": database_path(app)}


def upgrade_env(tmp_path: Path, installation, **commands: str) -> dict[str, str]:
    return clean_env(
        UPGRADE_APP_DIR=str(ROOT),
        UPGRADE_VENV=str(BIN.parent),
        UPGRADE_ENV_FILE=str(installation["env_file"]),
        UPGRADE_BACKUP_DIR=str(tmp_path / "backups"),
        **commands,
    )


def test_upgrade_backs_up_migrates_and_brings_the_server_back_with_every_wish(
    installation, tmp_path
):
    port, live = installation["port"], installation["db"]
    server_env = clean_env(**read_env_file(installation["env_file"]))
    log_path = tmp_path / "serve.log"
    old = start_server(server_env, log_path)
    pid_file = tmp_path / "server.pid"
    try:
        wait_until_answers(port, 60, old, log_path)
        # The install step of the test: it notes its argument, and leaves the database one
        # migration behind the code, as a new version that brings a migration does (that
        # migration, re-applied, changes nothing but the database's user_version).
        behind = "0020_search_words_version"
        assert behind in our_migrations()
        install = f'printf %s "$1" > {shlex.quote(str(tmp_path / "installed"))} && ' + shlex.join(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
                "db.execute('DELETE FROM _sqlite_migrations WHERE name = ?', [sys.argv[2]]);"
                "db.commit()",
                str(live),
                behind,
            ]
        )
        # The start command of the test notes which migrations the database has by then.
        at_start = tmp_path / "migrations-at-start"
        start = (
            shlex.join(
                [
                    sys.executable,
                    "-c",
                    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
                    "names = [n for (n,) in db.execute('SELECT name FROM _sqlite_migrations')];"
                    "open(sys.argv[2], 'w').write(' '.join(names))",
                    str(live),
                    str(at_start),
                ]
            )
            + f" && {{ setsid {shlex.quote(str(WISHES))} serve >> {shlex.quote(str(log_path))}"
            f" 2>&1 < /dev/null & echo $! > {shlex.quote(str(pid_file))}; }}"
        )
        result = subprocess.run(
            [str(UPGRADE), "v-next"],
            env=upgrade_env(
                tmp_path,
                installation,
                UPGRADE_STOP=f"kill -TERM -- -{old.pid}",
                UPGRADE_START=start,
                UPGRADE_INSTALL=install,
                UPGRADE_WAIT_SECONDS="60",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output + log_path.read_text(errors="replace")
        assert old.wait(15) is not None  # the old server was stopped by the stop command

        # The backup: the old database, whole, private.
        (backup,) = (tmp_path / "backups").glob("wishes-before-upgrade-*.db")
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert wish_texts(backup) == set(installation["wishes"].values())
        assert applied(backup) == our_migrations()
        note = backup.with_suffix(".txt")
        assert stat.S_IMODE(note.stat().st_mode) == 0o600
        assert "upgrading to: v-next" in note.read_text()

        # Installed with the version asked for, then migrated by init-db before the start.
        assert (tmp_path / "installed").read_text() == "v-next"
        assert applied(live) == [n for n in our_migrations() if n != behind] + [behind]
        assert f"migrations applied by this upgrade: {behind}" in output
        assert behind in at_start.read_text().split()

        # The new server answers with the settings of the environment file, every wish there.
        status, page = get(port, "/w/new")
        assert status == 200 and "升级 测试医院" in page
        for code, text in installation["wishes"].items():
            status, page = get(port, f"/t/{code}")
            assert status == 200 and str(escape(text)) in page, code
        assert wish_texts(live) == set(installation["wishes"].values())
        assert "==> upgraded" in output
    finally:
        stop_server(old)
        if pid_file.exists():
            stop_group(int(pid_file.read_text()), port)


def test_upgrade_whose_server_does_not_come_back_says_how_to_roll_back(installation, tmp_path):
    result = subprocess.run(
        [str(UPGRADE)],
        env=upgrade_env(
            tmp_path,
            installation,
            UPGRADE_STOP="true",
            UPGRADE_START="true",  # nothing starts
            UPGRADE_INSTALL="true",
            UPGRADE_WAIT_SECONDS="1",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (backup,) = (tmp_path / "backups").glob("wishes-before-upgrade-*.db")
    assert wish_texts(backup) == set(installation["wishes"].values())
    assert "did not answer 200" in result.stderr
    assert "To roll back" in result.stderr
    restore = re.search(r"restore the database: +(.*)", result.stderr).group(1)
    argv = shlex.split(restore)
    assert argv[-3:] == ["restore", "--yes", str(backup)]
    assert f"WISHES_DATA_DIR={installation['db'].parent}" in argv
    # The command works as printed: the database is the backup again, the replaced one kept.
    restored = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert wish_texts(installation["db"]) == set(installation["wishes"].values())
    assert list(installation["db"].parent.glob("wishes.db.before-restore-*"))


def test_upgrade_refuses_to_start_without_a_database(tmp_path):
    env_file = tmp_path / "wishes.env"
    env_file.write_text(f"WISHES_DATA_DIR={tmp_path / 'nothing'}\n", encoding="utf-8")
    result = subprocess.run(
        [str(UPGRADE)],
        env=clean_env(
            UPGRADE_VENV=str(BIN.parent),
            UPGRADE_ENV_FILE=str(env_file),
            UPGRADE_STOP="echo STOPPED",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no database to upgrade" in result.stderr
    assert "STOPPED" not in result.stdout
