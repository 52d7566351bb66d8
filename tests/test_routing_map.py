"""The hospital's routing map on a staff page (issue 18): category → branch, department rows
that win, and suggestions when re-routes show the map is wrong for this hospital."""

from __future__ import annotations

import re

from conftest import login, page_token

from wishes import lifecycle
from wishes.lifecycle import Actor, WishEntry
from wishes.organisation import store as organisation
from wishes.routing import RouteDecision


def _map_form(page_html, **changes):
    """Every select of the page as the browser would send it, with `changes` applied."""
    data = {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_html)[1]
    }
    for name in re.findall(r'<select id="(branch-[a-z_]+)"', page_html):
        chosen = re.search(
            rf'<select id="{name}"[^>]*>.*?<option value="([^"]*)" selected', page_html, re.S
        )
        data[name] = chosen[1] if chosen else ""
    data.update(changes)
    return data


def test_the_office_sends_a_category_elsewhere_and_adds_a_department_row(client, db, staff):
    login(client, "triager")
    page = client.get("/admin/organisation/routing").get_data(as_text=True)
    assert page.count('<select id="branch-') == 20  # every category but "not a wish"
    assert "停车与交通" in page and "交人工分诊" in page
    form = _map_form(
        page,
        **{"branch-parking": "office"},
        row_category=["meals"],
        row_department=["ward-pediatrics"],
        row_branch=["pediatrics"],
    )
    response = client.post("/admin/organisation/routing", data=form)
    assert response.status_code == 302
    assert organisation.branch_for(db, "parking") == "office"
    assert organisation.branch_for(db, "meals", "ward-pediatrics") == "pediatrics"
    assert organisation.branch_for(db, "meals", "ward-cardiology") == "catering"
    audited = db["audit_events"].rows_where("action = 'organisation_unit_changed'")
    detail = [row["detail"] for row in audited][-1]
    assert '"parking/*": ["logistics", "office"]' in detail


def test_a_category_left_to_triage_and_a_half_filled_row_are_handled(client, db, staff):
    login(client, "triager")
    page = client.get("/admin/organisation/routing").get_data(as_text=True)
    bad = _map_form(
        page,
        **{"branch-errands": ""},
        row_category=["meals"],
        row_department=[""],
        row_branch=["pediatrics"],
    )
    refused = client.post("/admin/organisation/routing", data=bad)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "科室规则第 1 行：需求类别、科室和党支部都要选" in html
    assert organisation.branch_for(db, "errands") == "volunteer"  # nothing saved
    # what was chosen is still chosen
    assert re.search(r'<select id="branch-errands"[^>]*>\s*<option value="">', html)
    assert '<option value="pediatrics" selected>' in html
    good = _map_form(page, **{"branch-errands": ""})
    assert client.post("/admin/organisation/routing", data=good).status_code == 302
    assert organisation.branch_for(db, "errands") is None  # errands now wait for triage


def test_re_routes_suggest_a_change_to_the_map(client, db, staff):
    office = Actor("staff", "党建工作部", staff["triager"]["id"])
    parking = RouteDecision([("parking", 0.9)], [], "v", True)
    for i in range(6):
        wish = lifecycle.submit(
            db, WishEntry(text=f"停车位太少了 {i}", channel="phone"), parking, "logistics"
        )
        if i < 5:
            lifecycle.reroute(db, wish["id"], "office", office, "停车归保卫", category="parking")
    login(client, "triager")
    page = client.get("/admin/organisation/routing").get_data(as_text=True)
    assert "分给总务后勤党支部的“停车与交通”心愿 6 条中有 5 条被改派到党委办公室党支部" in page
    taken = client.post(
        "/admin/organisation/routing/suggestion",
        data={"csrf_token": page_token_of(page), "category": "parking", "branch": "office"},
    )
    assert taken.status_code == 302 and organisation.branch_for(db, "parking") == "office"
    assert "被改派到" not in client.get("/admin/organisation/routing").get_data(as_text=True)


def page_token_of(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def test_only_the_office_and_the_administrator_see_the_map(client, staff):
    for username, status in (("member_a", 403), ("manager", 403), ("admin", 200)):
        login(client, username)
        assert client.get("/admin/organisation/routing").status_code == status
        client.post("/logout", data={"csrf_token": page_token(client.get("/board"))})


def test_corrections_beyond_one_accounts_weekly_number_wait_for_the_office(client, db, staff):
    office = Actor("staff", "党建办小王", staff["triager"]["id"])
    for i in range(lifecycle.WEEKLY_CORRECTIONS + 2):
        entry = WishEntry(text=f"想找人陪我说说话 {i}", channel="phone")
        wish = lifecycle.submit(db, entry, None)
        lifecycle.triage(db, wish["id"], "volunteer", office, category="companionship")
    lessons, waiting = lifecycle.corrected_labels(db)
    assert (len(lessons), waiting) == (lifecycle.WEEKLY_CORRECTIONS, 2)
    login(client, "triager")
    page = client.get("/admin/organisation/routing").get_data(as_text=True)
    assert "党建办小王 在" in page and "还有 2 条纠正等待审核" in page
    week = re.search(r'name="week" value="([^"]+)"', page)[1]
    accepted = client.post(
        "/admin/organisation/routing/corrections",
        data={"csrf_token": page_token_of(page), "user": staff["triager"]["id"], "week": week},
    )
    assert accepted.status_code == 302
    assert lifecycle.corrected_labels(db) == (lessons + _last_two(db), 0)
    assert db["audit_events"].count_where("action = 'router_corrections_accepted'") == 1
    assert "等待审核" not in client.get("/admin/organisation/routing").get_data(as_text=True)


def _last_two(db):
    return [
        (row["text"], "companionship")
        for row in db.query("SELECT text FROM wishes ORDER BY id DESC LIMIT 2")
    ][::-1]
