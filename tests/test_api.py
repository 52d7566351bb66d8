"""The JSON API (/api/v1): tokens, the public operations, the staff moves, and bad input.

Schemathesis runs the whole document against a running server in tests/test_api_schemathesis.py;
here each behaviour is checked on its own, through the test client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import login, page_token, routed_to

from wishes import lifecycle
from wishes.accounts import tokens
from wishes.lifecycle import WishEntry
from wishes.questionnaires import store as questionnaires

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response) -> str:
    assert response.is_json, response.get_data(as_text=True)[:300]
    return response.get_json()["error"]["code"]


def audit_actions(db, action: str) -> list[dict]:
    return list(db.query("SELECT * FROM audit_events WHERE action = ? ORDER BY id", [action]))


@pytest.fixture
def wish_a(db):
    """A wish open at branch A (pediatrics)."""
    entry = WishEntry(text="想给孩子借几本绘本", channel="phone", phone="13812341234")
    return lifecycle.submit(db, entry, routed_to("pediatrics"), "pediatrics")


def make_token(db, staff, username, scopes=("read", "write"), days=30, now=None):
    token, _row = tokens.create_token(
        db, staff[username]["id"], "test", scopes, days, by="test", now=now
    )
    return token


# ---- tokens -----------------------------------------------------------------------------------


def test_the_command_prints_a_token_on_its_last_line_and_it_works(runner, db, staff, client):
    result = runner.invoke(
        args=["api-token", "create", "member_a", "--scope", "read", "--scope", "write"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("wsh_") and len(token) > 40
    # Stored hashed: the token itself is nowhere in the database.
    stored = db.execute("SELECT token_hash, scopes FROM api_tokens").fetchall()
    assert len(stored) == 1 and token not in stored[0][0] and stored[0][1] == "read write"
    response = client.get(f"{API}/staff/wishes", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert audit_actions(db, "api_token_created")
    used = audit_actions(db, "api_token_used")
    assert len(used) == 1 and used[0]["actor_label"] == "member_a"
    assert json.loads(used[0]["detail"])["path"] == f"{API}/staff/wishes"


def test_the_command_defaults_to_read_and_refuses_an_unknown_user(runner, db, staff):
    result = runner.invoke(args=["api-token", "create", "member_a"])
    assert result.exit_code == 0
    assert db.execute("SELECT scopes FROM api_tokens").fetchone()[0] == "read"
    result = runner.invoke(args=["api-token", "create", "nobody"])
    assert result.exit_code != 0 and "nobody" in result.output


def test_no_token_a_wrong_token_an_expired_token_are_refused(client, db, staff):
    assert error_code(client.get(f"{API}/staff/wishes")) == "token_missing"
    response = client.get(f"{API}/staff/wishes", headers=bearer("wsh_nonsense"))
    assert response.status_code == 401 and error_code(response) == "token_invalid"
    old = datetime.now(UTC) - timedelta(days=2)
    expired = make_token(db, staff, "member_a", days=1, now=old)
    response = client.get(f"{API}/staff/wishes", headers=bearer(expired))
    assert response.status_code == 401 and error_code(response) == "token_expired"
    refused = audit_actions(db, "api_token_refused")
    assert [json.loads(row["detail"])["why"] for row in refused] == ["token_expired"]


def test_a_deactivated_accounts_tokens_stop_working(client, db, staff):
    token = make_token(db, staff, "member_a")
    assert client.get(f"{API}/staff/wishes", headers=bearer(token)).status_code == 200
    db.execute("UPDATE users SET active = 0 WHERE username = 'member_a'")
    db.conn.commit()
    response = client.get(f"{API}/staff/wishes", headers=bearer(token))
    assert response.status_code == 401 and error_code(response) == "token_invalid"


def test_a_read_token_cannot_move_a_wish(client, db, staff, wish_a):
    token = make_token(db, staff, "member_a", scopes=("read",))
    response = client.post(f"{API}/staff/wishes/{wish_a['id']}/claim", headers=bearer(token))
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"
    assert lifecycle.find_by_tracking_code(db, wish_a["tracking_code"])["state"] == "open"
    assert json.loads(audit_actions(db, "api_token_refused")[-1]["detail"])["why"] == (
        "insufficient_scope"
    )


def test_a_logged_in_session_does_not_authenticate_the_api(client, staff, wish_a):
    login(client, "member_a")
    assert client.get("/board").status_code == 200
    response = client.get(f"{API}/staff/wishes")
    assert response.status_code == 401 and error_code(response) == "token_missing"
    response = client.post(f"{API}/staff/wishes/{wish_a['id']}/claim", json={})
    assert response.status_code == 401


def test_the_account_page_makes_lists_and_revokes_tokens(client, db, staff):
    login(client, "member_a")
    page = client.get("/account/tokens")
    assert page.status_code == 200
    response = client.post(
        "/account/tokens",
        data={"name": "小程序", "write": "y", "days": "30", "csrf_token": page_token(page)},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    token = html.split('<code class="secret">')[1].split("<")[0]
    assert token.startswith("wsh_")
    again = client.get("/account/tokens").get_data(as_text=True)
    assert "小程序" in again and token not in again  # listed, never shown again
    assert client.get(f"{API}/staff/wishes", headers=bearer(token)).status_code == 200
    token_id = db.execute("SELECT id FROM api_tokens").fetchone()[0]
    response = client.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": page_token(client.get("/account/tokens"))},
    )
    assert response.status_code == 303
    response = client.get(f"{API}/staff/wishes", headers=bearer(token))
    assert response.status_code == 401 and error_code(response) == "token_revoked"
    assert audit_actions(db, "api_token_revoked")


def test_one_cannot_revoke_another_staff_members_token(client, db, staff):
    make_token(db, staff, "member_b")
    token_id = db.execute("SELECT id FROM api_tokens").fetchone()[0]
    login(client, "member_a")
    response = client.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": page_token(client.get("/account/tokens"))},
    )
    assert response.status_code == 404
    assert db.execute("SELECT revoked_at FROM api_tokens").fetchone()[0] is None


# ---- public operations -----------------------------------------------------------------------


def test_a_wish_submitted_by_the_api_is_tracked_by_its_code(client, db):
    response = client.post(
        f"{API}/wishes",
        json={"text": "希望病房能有一台加湿器", "phone": "13812341234", "contact_consent": True},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    code = body["tracking_code"]
    assert body["tracking_url"].endswith(f"/t/{code}")
    assert response.headers["Location"].endswith(f"{API}/wishes/{code}")
    stored = lifecycle.find_by_tracking_code(db, code)
    assert stored["channel"] == "api" and stored["phone"] == "13812341234"
    tracked = client.get(f"{API}/wishes/{code.lower()}")
    assert tracked.status_code == 200
    view = tracked.get_json()
    assert view["tracking_code"] == code and view["text"] == "希望病房能有一台加湿器"
    assert view["events"][0]["action"] == "submit"
    assert "1381234" not in tracked.get_data(as_text=True)  # nothing personal
    assert client.get(f"{API}/wishes/2345678").status_code == 404


def test_the_api_applies_the_wish_forms_rules(client):
    response = client.post(f"{API}/wishes", json={"text": "好", "phone": "12345"})
    assert response.status_code == 422 and error_code(response) == "invalid_field"
    fields = response.get_json()["error"]["fields"]
    assert {"text", "phone"} <= set(fields)
    # A phone number without consent: the page's rule, on the consent box.
    response = client.post(f"{API}/wishes", json={"text": "想要一本字帖", "phone": "13812341234"})
    assert "contact_consent" in response.get_json()["error"]["fields"]


def test_bad_bodies_get_json_errors(client):
    cases = [
        (dict(data="{not json", content_type="application/json"), 400, "malformed_json"),
        (dict(data="[" * 50_000, content_type="application/json"), 400, "malformed_json"),
        (dict(data="text=hello", content_type="application/x-www-form-urlencoded"), 415, None),
        (dict(json={"text": "想要一本字帖", "colour": "red"}), 422, "unknown_field"),
        (dict(json={"text": 12345}), 422, "invalid_field"),
        (dict(json={"text": "想要一本字帖", "contact_consent": "yes"}), 422, "invalid_field"),
        (dict(json=["a list"]), 422, "invalid_field"),
        (dict(json={"text": "x" * 70_000}), 413, "body_too_large"),
    ]
    for kwargs, status, code in cases:
        response = client.post(f"{API}/wishes", **kwargs)
        assert response.status_code == status, (kwargs, response.get_data(as_text=True)[:200])
        assert error_code(response) == (code or "unsupported_media_type")
    assert error_code(client.post(f"{API}/wishes", json={"colour": "red"})) == "unknown_field"


def test_paths_and_methods_the_api_does_not_have_are_json(client):
    response = client.get(f"{API}/nothing-here")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = client.delete(f"{API}/wishes")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_the_public_operations_are_rate_limited_like_the_pages(app, client, monkeypatch):
    from wishes import ratelimit

    monkeypatch.setitem(ratelimit.LIMITS, "tracking", ratelimit.Limit(2, 600))
    statuses = [client.get(f"{API}/wishes/2345678").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    response = client.get(f"{API}/wishes/2345678")
    assert error_code(response) == "rate_limited" and int(response.headers["Retry-After"]) > 0


def test_the_questionnaire_is_read_and_answered_with_the_pages_checks(client, db):
    questionnaires.ensure_default(db)
    response = client.get(f"{API}/questionnaires/satisfaction")
    assert response.status_code == 200
    survey = response.get_json()
    assert survey["open_now"] is True
    keys = {q["key"] for q in survey["questions"]}
    assert {"overall", "recommend"} <= keys
    url = f"{API}/questionnaires/satisfaction/responses"
    response = client.post(url, json={"answers": {"overall": 9, "nope": 1, "visit": 3}})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert {"overall", "nope", "visit", "recommend"} <= set(fields)  # range, key, type, required
    answers = {"overall": 5, "recommend": 10, "improve": ["waiting"], "comment": "护士很耐心"}
    response = client.post(url, json={"answers": answers, "submission_id": "a" * 32})
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"submission_id": "a" * 32, "stored": True}
    again = client.post(url, json={"answers": answers, "submission_id": "a" * 32})
    assert again.status_code == 200 and again.get_json()["stored"] is False
    row = db.execute("SELECT channel FROM responses").fetchall()
    assert row == [("api",)]
    assert client.get(f"{API}/questionnaires/nope").status_code == 404


# ---- staff operations ------------------------------------------------------------------------


def test_a_claim_through_the_api_is_the_boards_claim(client, db, staff, wish_a):
    token = make_token(db, staff, "member_a")
    url = f"{API}/staff/wishes/{wish_a['id']}"
    listed = client.get(f"{API}/staff/wishes", headers=bearer(token)).get_json()
    assert [w["id"] for w in listed["wishes"]] == [wish_a["id"]]  # branch A: member_a's own
    response = client.post(f"{url}/claim", json={"kind": "person"}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    moved = response.get_json()
    assert moved["state"] == "claimed" and moved["claimant_name"] == "member_a"
    assert moved["phone_masked"] == "138****1234"
    events = lifecycle.history(db, wish_a["id"])
    assert events[-1]["action"] == "claim"
    assert events[-1]["actor_user_id"] == staff["member_a"]["id"]
    login(client, "member_a")
    board = client.get("/board?state=claimed").get_data(as_text=True)
    assert wish_a["tracking_code"] in board
    # start, then fulfil with the note the patient reads
    assert client.post(f"{url}/start", headers=bearer(token)).get_json()["state"] == "in_progress"
    response = client.post(f"{url}/fulfil", json={"note": "送去了三本绘本"}, headers=bearer(token))
    assert response.get_json()["state"] == "fulfilled"
    tracked = client.get(f"{API}/wishes/{wish_a['tracking_code']}").get_json()
    assert tracked["fulfilment_note"] == "送去了三本绘本"


def test_an_illegal_move_is_a_409_and_changes_nothing(client, db, staff, wish_a):
    token = make_token(db, staff, "member_a")
    url = f"{API}/staff/wishes/{wish_a['id']}"
    response = client.post(f"{url}/fulfil", json={"note": "做完了"}, headers=bearer(token))
    assert response.status_code == 409 and error_code(response) == "illegal_move"
    client.post(f"{url}/claim", headers=bearer(token))
    response = client.post(f"{url}/claim", headers=bearer(token))
    assert response.status_code == 409 and error_code(response) == "already_claimed"
    assert [e["action"] for e in lifecycle.history(db, wish_a["id"])][-1] == "claim"


def test_the_permission_table_decides_as_on_the_board(client, db, staff, wish_a):
    other = make_token(db, staff, "member_b")
    url = f"{API}/staff/wishes/{wish_a['id']}"
    response = client.post(f"{url}/claim", headers=bearer(other))
    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert client.get(url, headers=bearer(other)).status_code == 200  # every staff reads
    # Re-route: the branch's secretary may; the form's rules apply (a reason is required).
    secretary = make_token(db, staff, "secretary_a")
    response = client.post(
        f"{url}/reroute", json={"branch": "logistics", "reason": ""}, headers=bearer(secretary)
    )
    assert response.status_code == 422 and "reason" in response.get_json()["error"]["fields"]
    response = client.post(
        f"{url}/reroute",
        json={"branch": "logistics", "reason": "后勤更合适"},
        headers=bearer(secretary),
    )
    assert response.status_code == 200 and response.get_json()["branch_code"] == "logistics"
    assert client.get(f"{API}/staff/wishes/999999", headers=bearer(other)).status_code == 404


def test_claiming_for_a_department_needs_a_department(client, db, staff, wish_a):
    token = make_token(db, staff, "member_a")
    url = f"{API}/staff/wishes/{wish_a['id']}/claim"
    response = client.post(url, json={"kind": "department"}, headers=bearer(token))
    assert response.status_code == 422 and "department" in response.get_json()["error"]["fields"]


def test_the_document_declares_every_operation_and_its_errors(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post")
    }
    assert operations == {
        ("POST", f"{API}/wishes"),
        ("GET", f"{API}/wishes/{{code}}"),
        ("GET", f"{API}/questionnaires/{{slug}}"),
        ("POST", f"{API}/questionnaires/{{slug}}/responses"),
        ("GET", f"{API}/staff/wishes"),
        ("GET", f"{API}/staff/wishes/{{wish_id}}"),
        ("POST", f"{API}/staff/wishes/{{wish_id}}/claim"),
        ("POST", f"{API}/staff/wishes/{{wish_id}}/start"),
        ("POST", f"{API}/staff/wishes/{{wish_id}}/fulfil"),
        ("POST", f"{API}/staff/wishes/{{wish_id}}/reroute"),
        ("POST", f"{API}/staff/wishes/{{wish_id}}/notes"),
    }
    claim = spec["paths"][f"{API}/staff/wishes/{{wish_id}}/claim"]["post"]
    assert {"401", "403", "404", "409", "413", "422"} <= set(claim["responses"])
    assert claim["security"] == [{"token": []}]
