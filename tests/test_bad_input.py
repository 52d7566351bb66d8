"""Inputs the property tests (test_fuzz.py) found to break pages, each answered calmly now."""

import io
import os
import stat
from urllib.parse import urlencode

import pytest
from conftest import csrf_token, login

from wishes.questionnaires import store

HUGE = 99999999999999999999  # beyond SQLite's 64-bit integers


def test_a_file_posted_in_a_text_field_is_no_text(client, db):
    data = {
        "csrf_token": csrf_token(client, "/w/new"),
        "department": "",
        "text": (io.BytesIO("希望有吹风机".encode()), "a.txt"),
    }
    response = client.post("/w/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303  # the form again, by a GET (wishes/drafts.py)
    assert "请写下您的心愿" in client.get("/w/new").get_data(as_text=True)
    assert db["wishes"].count == 0


def test_a_json_body_is_refused_before_any_form_reads_it(client, db):
    token = csrf_token(client, "/w/new")
    for body in ([1, 2, 3], {"csrf_token": token, "text": 12345}, {"password": "\ud800"}):
        response = client.post("/w/new", json=body)
        assert response.status_code == 415 and "请求没有成功" in response.get_data(as_text=True)
    assert db["wishes"].count == 0


def test_a_number_too_long_for_the_database_is_no_page(client, staff):
    login(client, "admin")
    for path in (f"/admin/users/{HUGE}", f"/board/wishes/{HUGE}", f"/admin/questionnaires/{HUGE}"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/board?page={HUGE}").status_code == 200
    assert client.get(f"/admin/audit?page={HUGE}").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["last=0001-01-01", "first=9999-12-31", "month=9999-12", "first=0001-01-01&last=0001-01-02"],
)
def test_dates_at_the_ends_of_the_calendar_are_explained(client, db, staff, query):
    store.ensure_default(db)
    login(client, "manager")
    for path in ("/dashboard", "/dashboard/report", "/dashboard/export/branches.csv"):
        assert client.get(f"{path}?{query}").status_code == 200, path
    if "month" not in query:
        assert "日期须在 2000 到 2100 年之间" in client.get(f"/dashboard?{query}").get_data(
            as_text=True
        )


def test_a_deeply_nested_or_unstorable_questionnaire_file_is_refused(runner, tmp_path, db):
    question = b'{"key": "a", "type": "text", "label": "x"}'
    surrogate = b'{"slug": "a", "title": "\\ud800", "questions": [' + question + b"]}"
    for name, body in (("deep.json", b"[" * 100_000), ("surrogate.json", surrogate)):
        (tmp_path / name).write_bytes(body)
        result = runner.invoke(args=["questionnaire", "import", str(tmp_path / name)])
        assert result.exit_code == 1 and "没有导入" in result.output, result.output
        assert "嵌套太深" in result.output or "无法保存的字符" in result.output
    assert db["questionnaires"].count == 0


def test_a_form_sent_in_chunks_beyond_a_forms_size_is_refused_not_echoed(client):
    """Without a Content-Length the size limit was not checked: a 6 MB field came back inside
    the form's error page. Now such a body ends in 413 once it passes a form's size."""
    response = _post_in_chunks(client, ("text=" + "愿" * 2_000_000).encode())
    assert response.status_code == 413
    assert len(response.get_data()) < 50_000
    # a form of ordinary size sent in chunks is read as any other
    token = csrf_token(client, "/w/new")
    small = urlencode({"text": "想借一个充电宝", "department": "", "csrf_token": token}).encode()
    assert _post_in_chunks(client, small).status_code == 302


def _post_in_chunks(client, body: bytes):
    """The wish form's body as a chunked request: no Content-Length."""
    return client.post(
        "/w/new",
        input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_the_database_is_readable_by_the_apps_user_only(app):
    from wishes.storage import database_path

    path = database_path(app)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
