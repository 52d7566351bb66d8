"""Headers and cookies: what the browser is told, over HTTP and behind an HTTPS proxy."""

import pytest
from conftest import csrf_token, login

from wishes import create_app


def _staff_cookie(response):
    cookies = response.headers.getlist("Set-Cookie")
    return next(c for c in cookies if c.startswith("session="))


def test_every_page_gets_the_security_headers(client):
    for path in ("/", "/kiosk", "/w/new", "/t", "/login", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
            "form-action 'self'",
        ):
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would be a lie


def test_session_cookies_are_httponly_and_samesite_lax(client, staff):
    cookie = _staff_cookie(login(client, "member_a"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.fixture
def https_app(tmp_path):
    return _set_up(
        create_app(
            {
                "TESTING": True,
                "WISHES_DATA_DIR": str(tmp_path / "https-data"),
                "WISHES_HTTPS": True,
                "WISHES_PROXY_HOPS": 1,
            }
        )
    )


def _set_up(app):
    """A hospital past its first run (an organisation), so pages are not sent to set-up."""
    from wishes import organisation
    from wishes.storage import connect, database_path

    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    return app


def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(https_app):
    client = https_app.test_client()
    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in _staff_cookie(page)


def test_the_client_address_comes_from_the_proxy_only_when_told_to_trust_it(app, tmp_path):
    from wishes.storage import connect, database_path

    proxied = _set_up(
        create_app(
            {"TESTING": True, "WISHES_DATA_DIR": str(tmp_path / "proxied"), "WISHES_PROXY_HOPS": 1}
        )
    )
    for each, expected in ((app, "127.0.0.1"), (proxied, "10.9.8.7")):
        client = each.test_client()
        data = {"username": "nobody", "password": "x" * 12}
        data["csrf_token"] = csrf_token(client, "/login")
        client.post("/login", headers={"X-Forwarded-For": "10.9.8.7"}, data=data)
        with connect(database_path(each)) as db:
            assert db.execute("SELECT address FROM login_attempts").fetchone()[0] == expected


def test_a_body_over_the_limit_gets_a_clear_refusal(client):
    response = client.post("/w/new", data={"text": "x" * (9 * 1024 * 1024)})
    assert response.status_code == 413
    assert "出了点问题" in response.get_data(as_text=True) or "太大" in response.get_data(
        as_text=True
    )
