"""Sign-in against the hospital's directory, tested against a real OpenLDAP server (slapd).

The `slapd` fixture starts Debian's slapd for this module on a spare port of 127.0.0.1, with
its configuration, database, pid and log all in a temporary folder (nothing of a system slapd
is used or touched), loads a small hospital, and stops it afterwards. `scripts/test` installs
slapd; without it these tests fail on CI (CI set) and are skipped elsewhere, with the reason.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ldap3
import pytest
from conftest import PASSWORD, csrf_token, login

from wishes import create_app, settings
from wishes.accounts import directory, store

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=hospital,dc=test"
ROOT_DN, ROOT_PASSWORD = f"cn=root,{SUFFIX}", "root secret 2026"
SERVICE_DN, SERVICE_PASSWORD = f"cn=wishes,ou=services,{SUFFIX}", "service secret 2026"
PEOPLE, GROUPS = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
PEDIATRICS = f"cn=儿科党支部,{GROUPS}"
PEDIATRICS_SECRETARIES = f"cn=儿科支部书记,{GROUPS}"
CANTEEN_VOLUNTEERS = f"cn=食堂志愿者,{GROUPS}"  # mapped to nothing

# uid -> (name, password, groups, extra attributes)
PEOPLE_ENTRIES = {
    "li.na": ("李娜", "li.na directory pass", [PEDIATRICS], {}),
    "zhou.bo": ("周波", "zhou.bo directory pass", [PEDIATRICS, PEDIATRICS_SECRETARIES], {}),
    "he.ping": ("何平", "he.ping directory pass", [PEDIATRICS], {}),
    "wu.xin": ("吴欣", "wu.xin directory pass", [CANTEEN_VOLUNTEERS], {}),
    "qian.hao": ("钱浩", "qian.hao directory pass", [], {"employeeType": "党建办"}),
    "ma.li": ("马力", "ma.li directory pass", [PEDIATRICS], {}),
    "sun.yue": ("孙悦", "sun.yue directory pass", [PEDIATRICS], {}),
    # The directory has an `admin` too: it must never take over the local administrator.
    "admin": ("目录里的admin", "directory admin pass", [PEDIATRICS_SECRETARIES], {}),
}
ROLE_MAP = {
    PEDIATRICS_SECRETARIES: "secretary@pediatrics",  # first: the narrower group wins
    PEDIATRICS: "member@pediatrics",
    "employeeType=党建办": "triager",
}

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw "{root_password}"
directory {folder}/data
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"""


def _spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _confined_by_apparmor(binary: str) -> bool:
    """Ubuntu's slapd profile lets slapd read only /etc/ldap and write only /var/lib/ldap. The
    list of loaded profiles may be readable by root alone: a profile on disk counts too."""
    if Path("/etc/apparmor.d", binary.strip("/").replace("/", ".")).exists():
        return True
    try:
        loaded = Path("/sys/kernel/security/apparmor/profiles").read_text()
    except OSError:
        return False
    return any(line.startswith(binary + " (enforce)") for line in loaded.splitlines())


class Slapd:
    """One slapd process of our own: its folder, its port, started, stopped, paused."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _spare_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.binary = SLAPD
        if _confined_by_apparmor(SLAPD):  # a copy elsewhere is not under the profile
            self.binary = str(shutil.copy2(SLAPD, folder / "slapd"))
        (folder / "data").mkdir()
        (folder / "slapd.conf").write_text(
            SLAPD_CONF.format(
                folder=folder, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD
            )
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.folder / "slapd.log", "ab")  # noqa: SIM115 — the process keeps it
        self.process = subprocess.Popen(
            [self.binary, "-h", f"{self.url}/", "-f", str(self.folder / "slapd.conf"), "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = (self.folder / "slapd.log").read_text(errors="replace")
                pytest.fail(f"slapd exited with {self.process.returncode}:\n{output}")
            probe = ldap3.Connection(self.url, ROOT_DN, ROOT_PASSWORD)
            try:
                if probe.bind():
                    probe.unbind()
                    return
            except ldap3.core.exceptions.LDAPException:
                time.sleep(0.1)
            finally:
                if probe.socket is not None:  # ldap3 leaves it open when refused
                    probe.socket.close()
        self.stop()
        pytest.fail("slapd did not answer within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pause(self) -> None:
        """The server hangs: connections are accepted by the kernel, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    @contextmanager
    def admin(self) -> Iterator[ldap3.Connection]:
        """The directory's root, to load and change entries (ldap3's own `with` would leave
        a connection bound before it open)."""
        conn = ldap3.Connection(self.url, ROOT_DN, ROOT_PASSWORD, auto_bind=True)
        try:
            yield conn
        finally:
            conn.unbind()


def _load_hospital(server: Slapd) -> None:
    with server.admin() as conn:
        conn.add(SUFFIX, ["dcObject", "organization"], {"o": "示范医院", "dc": "hospital"})
        for unit in ("people", "groups", "services"):
            conn.add(f"ou={unit},{SUFFIX}", ["organizationalUnit"], {"ou": unit})
        conn.add(
            SERVICE_DN,
            ["applicationProcess", "simpleSecurityObject"],
            {"cn": "wishes", "userPassword": SERVICE_PASSWORD},
        )
        members: dict[str, list[str]] = {}
        for uid, (name, password, groups, extra) in PEOPLE_ENTRIES.items():
            dn = f"uid={uid},{PEOPLE}"
            attributes = {
                "uid": uid,
                "cn": name,
                "sn": name[:1],
                "displayName": name,
                "userPassword": password,
                **extra,
            }
            assert conn.add(dn, ["inetOrgPerson"], attributes), conn.result
            for group in groups:
                members.setdefault(group, []).append(dn)
        for group in (PEDIATRICS, PEDIATRICS_SECRETARIES, CANTEEN_VOLUNTEERS):
            cn = group.split(",")[0].split("=")[1]
            assert conn.add(group, ["groupOfNames"], {"cn": cn, "member": members[group]}), (
                conn.result
            )


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    if not os.access(SLAPD, os.X_OK):
        reason = "slapd is not installed (apt-get install slapd ldap-utils; scripts/test does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    server.start()
    try:
        _load_hospital(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def hospital_directory(app, slapd):
    """The app signs in against the test directory (a 2 s timeout keeps the waits short)."""
    app.config.update(
        WISHES_LDAP_URL=slapd.url,
        WISHES_LDAP_BIND_DN=SERVICE_DN,
        WISHES_LDAP_BIND_PASSWORD=SERVICE_PASSWORD,
        WISHES_LDAP_USER_BASE=PEOPLE,
        WISHES_LDAP_USER_FILTER="(&(objectClass=inetOrgPerson)(uid={username}))",
        WISHES_LDAP_GROUP_BASE=GROUPS,
        WISHES_LDAP_ROLE_MAP=ROLE_MAP,
        WISHES_LDAP_TIMEOUT=2,
    )
    return directory.Directory.from_config(app.config)


def password_of(uid):
    return PEOPLE_ENTRIES[uid][1]


def page(response):
    return response.get_data(as_text=True)


def audit_rows(db, action):
    return list(db.query("SELECT * FROM audit_events WHERE action = ? ORDER BY id", [action]))


def test_a_directory_member_signs_in_and_lands_in_their_branch(client, db, hospital_directory):
    response = login(client, "li.na", password_of("li.na"))
    assert response.status_code == 302 and response.location == "/board"
    assert client.get("/board").status_code == 200  # no password to change: it is not ours

    user = store.find_user(db, "li.na")
    assert (user["role"], user["branch_code"], user["source"]) == (
        "member",
        "pediatrics",
        "directory",
    )
    assert user["display_name"] == "李娜" and user["password_hash"] is None
    [created] = audit_rows(db, "user_created")
    assert created["actor_label"] == "directory" and '"via": "directory"' in created["detail"]
    assert [r["action"] for r in db.query("SELECT action FROM audit_events ORDER BY id")][
        -1
    ] == "login"

    # The second sign-in finds the account and changes nothing.
    assert login(client, "LI.NA", password_of("li.na")).status_code == 302
    assert db["users"].count_where("username = 'li.na'") == 1
    assert audit_rows(db, "user_updated") == []


def test_the_first_group_of_the_map_that_matches_wins(app, db, hospital_directory):
    assert login(app.test_client(), "zhou.bo", password_of("zhou.bo")).status_code == 302
    assert store.find_user(db, "zhou.bo")["role"] == "secretary"


def test_an_attribute_can_give_the_role(app, db, hospital_directory):
    assert login(app.test_client(), "qian.hao", password_of("qian.hao")).status_code == 302
    user = store.find_user(db, "qian.hao")
    assert (user["role"], user["branch_code"]) == ("triager", None)


def test_role_and_branch_follow_the_directory_at_every_sign_in(app, db, slapd, hospital_directory):
    assert login(app.test_client(), "he.ping", password_of("he.ping")).status_code == 302
    he_ping = f"uid=he.ping,{PEOPLE}"
    with slapd.admin() as conn:
        conn.modify(PEDIATRICS_SECRETARIES, {"member": [(ldap3.MODIFY_ADD, [he_ping])]})
    try:
        assert login(app.test_client(), "he.ping", password_of("he.ping")).status_code == 302
    finally:
        with slapd.admin() as conn:
            conn.modify(PEDIATRICS_SECRETARIES, {"member": [(ldap3.MODIFY_DELETE, [he_ping])]})
    assert store.find_user(db, "he.ping")["role"] == "secretary"
    [updated] = audit_rows(db, "user_updated")
    assert '"role": ["member", "secretary"]' in updated["detail"]


def test_a_wrong_directory_password_is_refused_like_any_other(client, db, hospital_directory):
    response = login(client, "li.na", "not li.na's password")
    assert response.status_code == 400
    assert "用户名或密码不正确" in page(response)
    assert store.find_user(db, "li.na") is None
    for nobody in ("nobody.here", "*", "li.na"):  # no entry, or an empty password
        assert directory.authenticate(hospital_directory, nobody, "") is None
    assert directory.authenticate(hospital_directory, "nobody.here", "anything 123") is None
    [failed] = audit_rows(db, "login_failed")
    # a name no account has here yet is not written down (it may be a password typed in the
    # wrong box): the audit log says so
    assert failed["subject_id"] == "（不存在的用户名）" and failed["detail"] is None


def test_a_person_in_no_mapped_group_is_refused_with_a_reason(client, db, hospital_directory):
    response = login(client, "wu.xin", password_of("wu.xin"))
    assert response.status_code == 400
    assert "没有对应的角色或党支部" in page(response)
    assert store.find_user(db, "wu.xin") is None
    [failed] = audit_rows(db, "login_failed")
    assert failed["detail"] == '{"reason": "no_role"}'


def test_the_local_admin_never_asks_the_directory(client, db, staff, hospital_directory):
    # The directory's `admin`, with the directory's password: refused.
    assert login(client, "admin", password_of("admin")).status_code == 400
    assert store.find_user(db, "admin")["source"] == "local"
    assert login(client, "admin", PASSWORD).status_code == 302
    assert audit_rows(db, "user_updated") == []


def test_the_local_admin_signs_in_while_the_directory_is_stopped(
    app, db, staff, slapd, hospital_directory
):
    assert login(app.test_client(), "ma.li", password_of("ma.li")).status_code == 302
    slapd.stop()
    try:
        assert login(app.test_client(), "admin", PASSWORD).status_code == 302
        assert login(app.test_client(), "member_a", PASSWORD).status_code == 302
        # A directory account is told the directory cannot be reached: no error page.
        for uid in ("ma.li", "sun.yue"):  # known here already, and not yet
            response = login(app.test_client(), uid, password_of(uid))
            assert response.status_code == 400
            assert "暂时连不上医院的目录服务" in page(response)
    finally:
        slapd.start()
    assert '"reason": "unavailable"' in audit_rows(db, "login_failed")[-1]["detail"]
    assert login(app.test_client(), "sun.yue", password_of("sun.yue")).status_code == 302


def test_a_directory_that_hangs_times_out_and_the_local_admin_still_works(
    app, staff, slapd, hospital_directory
):
    slapd.pause()
    try:
        started = time.monotonic()
        response = login(app.test_client(), "li.na", password_of("li.na"))
        waited = time.monotonic() - started
        assert login(app.test_client(), "admin", PASSWORD).status_code == 302
    finally:
        slapd.resume()
    assert response.status_code == 400 and "暂时连不上" in page(response)
    assert waited < 2 * 2 + 3  # the timeout (2 s) for the connection and the answer


@pytest.mark.parametrize(
    "typed", ["*)(uid=*", "*", "li.n*", "li.na)(|(uid=*", "*)(|(objectClass=*"]
)
def test_ldap_injection_in_the_username_matches_nothing(client, db, hospital_directory, typed):
    # Straight to the directory, past the username rules: the filter is escaped.
    assert directory.authenticate(hospital_directory, typed, password_of("li.na")) is None
    response = login(client, typed, password_of("li.na"))
    assert response.status_code == 400 and "用户名或密码不正确" in page(response)
    assert db["users"].count == 0


def test_wrong_directory_passwords_are_throttled_too(app, client, hospital_directory):
    for _ in range(5):
        assert login(client, "li.na", "a wrong guess 123").status_code == 400
    response = login(client, "li.na", password_of("li.na"))
    assert response.status_code == 429 and "分钟后再试" in page(response)


def test_an_account_deactivated_here_stays_out(app, client, db, staff, hospital_directory):
    assert login(app.test_client(), "li.na", password_of("li.na")).status_code == 302
    user_id = store.find_user(db, "li.na")["id"]
    login(client, "admin")
    client.post(
        f"/admin/users/{user_id}",
        data={
            "display_name": "李娜",
            "role": "member",
            "branch": "pediatrics",
            "csrf_token": csrf_token(client, f"/admin/users/{user_id}"),
        },  # active unticked
    )
    assert store.find_user(db, "li.na")["active"] == 0
    assert login(app.test_client(), "li.na", password_of("li.na")).status_code == 400
    assert store.find_user(db, "li.na")["active"] == 0


def test_a_refused_service_account_says_the_settings_are_wrong(app, hospital_directory):
    app.config["WISHES_LDAP_BIND_PASSWORD"] = "not the service password"
    response = login(app.test_client(), "li.na", password_of("li.na"))
    assert response.status_code == 400 and "目录登录的设置有误" in page(response)


def test_directory_sign_in_is_off_by_default(app, client, db, hospital_directory):
    assert login(app.test_client(), "li.na", password_of("li.na")).status_code == 302
    app.config["WISHES_LDAP_URL"] = ""
    response = login(client, "li.na", password_of("li.na"))
    assert response.status_code == 400 and "用户名或密码不正确" in page(response)
    assert settings.SETTINGS_BY_NAME["WISHES_LDAP_URL"].default == ""


@pytest.mark.parametrize(
    "role_map, words",
    [
        ('{"cn=x,dc=test": "doctor"}', "no role 'doctor'"),
        ('{"cn=x,dc=test": "member"}', "needs a branch"),
        ('{"everyone": "manager"}', "group's DN or attribute=value"),
        ('["member"]', "JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_a_role_map_that_cannot_work_stops_the_start(tmp_path, monkeypatch, role_map, words):
    monkeypatch.setenv("WISHES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WISHES_LDAP_ROLE_MAP", role_map)
    with pytest.raises(settings.SettingsError, match="WISHES_LDAP_ROLE_MAP") as error:
        create_app()
    assert words in str(error.value)
