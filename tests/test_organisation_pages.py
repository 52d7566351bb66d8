"""The organisation pages and the staff import on the users page (issue 17, items 1–3), through
the test client as the Party-building office (and the administrator for staff)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import csrf_token, flashes, login, post_form
from openpyxl import Workbook, load_workbook

from wishes.glossary import organisation as words
from wishes.organisation import store, workbook
from wishes.organisation.store import Kind

ORG = "/admin/organisation"


@pytest.fixture
def office(client, staff):
    assert login(client, "triager").status_code == 302
    return client


def _unit(db, kind, code):
    return store.unit(db, kind, code)


def _audited(db, action):
    return db.execute("SELECT count(*) FROM audit_events WHERE action = ?", [action]).fetchone()[0]


def _put_wish(db, branch, state="open", department=None):
    n = db.execute("SELECT count(*) FROM wishes").fetchone()[0]
    return (
        db.table("wishes")
        .insert(
            {
                "tracking_code": f"PAGE{n:03d}",
                "text": "想借个轮椅",
                "state": state,
                "channel": "kiosk",
                "branch_code": branch,
                "department_code": department,
                "created_at": "2026-01-05 08:00:00",
                "updated_at": "2026-01-05 08:00:00",
            }
        )
        .last_pk
    )


def _order(db, table, where=""):
    return [r["code"] for r in db.query(f"SELECT code FROM {table} {where} ORDER BY sort_order")]


# ---- adding, renaming, reordering -----------------------------------------------------------


def test_the_office_adds_a_general_branch_a_branch_under_it_and_a_ward_on_a_campus(office, db):
    # the add forms post to their own address; the token comes from the overview
    token = csrf_token(office, ORG)
    response = office.post(
        f"{ORG}/add/general_branch",
        data={"csrf_token": token, "code": "surgery-gb", "name": "外科总支", "name_en": "Surgery"},
    )
    assert response.status_code == 302
    added = _unit(db, Kind.GENERAL_BRANCH, "surgery-gb")
    assert added["name"] == "外科总支" and added["name_hant"] == "外科總支"
    office.post(
        f"{ORG}/add/branch",
        data={
            "csrf_token": token,
            "code": "surgery",
            "name": "外科党支部",
            "general_branch": "surgery-gb",
            "scope": "术后陪护",
        },
    )
    assert _unit(db, Kind.BRANCH, "surgery")["general_branch_code"] == "surgery-gb"
    office.post(
        f"{ORG}/add/department",
        data={
            "csrf_token": token,
            "code": "ward-surgery-east",
            "name": "外科病区",
            "kind": "ward",
            "campus": "东院",
        },
    )
    ward = _unit(db, Kind.DEPARTMENT, "ward-surgery-east")
    assert (ward["kind"], ward["campus"]) == ("ward", "东院")
    html = office.get(ORG).get_data(as_text=True)
    assert "外科党支部" in html and "东院" in html and "外科病区" in html
    assert _audited(db, "organisation_unit_added") == 3


def test_a_code_already_taken_is_refused_with_the_glossarys_words(office, db):
    response = office.post(
        f"{ORG}/add/general_branch",
        data={"csrf_token": csrf_token(office, ORG), "code": "retirees", "name": "重复"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert words.message("code_taken", {"value": "retirees"}) in html
    assert _unit(db, Kind.GENERAL_BRANCH, "retirees")["name"] != "重复"


def test_renaming_fills_the_traditional_name_unless_one_is_typed(office, db):
    page = f"{ORG}/units/branch/pediatrics"
    assert office.get(page).status_code == 200
    post_form(office, f"{page}/rename", name="儿童医学党支部", name_en="Children")
    renamed = _unit(db, Kind.BRANCH, "pediatrics")
    assert (renamed["name"], renamed["name_hant"], renamed["name_en"]) == (
        "儿童医学党支部",
        "兒童醫學黨支部",
        "Children",
    )
    office.post(
        f"{page}/rename",
        data={
            "csrf_token": csrf_token(office, page),
            "name": "儿童医学党支部",
            "name_hant": "兒童醫學支部",
            "name_en": "Children",
        },
    )
    assert _unit(db, Kind.BRANCH, "pediatrics")["name_hant"] == "兒童醫學支部"
    # the English name changed alone: the typed Traditional name stays
    office.post(
        f"{page}/rename",
        data={"csrf_token": csrf_token(office, page), "name": "儿童医学党支部", "name_en": "Kids"},
    )
    kept = _unit(db, Kind.BRANCH, "pediatrics")
    assert (kept["name_hant"], kept["name_en"]) == ("兒童醫學支部", "Kids")
    assert _audited(db, "organisation_unit_changed") == 3


def test_moving_a_branch_down_and_up_among_its_general_branchs_branches(office, db):
    where = "WHERE general_branch_code = 'outpatient-medtech'"
    before = _order(db, "branches", where)
    assert before[:2] == ["outpatient", "medtech"]
    token = csrf_token(office, ORG)
    office.post(
        f"{ORG}/units/branch/outpatient/move", data={"csrf_token": token, "direction": "down"}
    )
    assert _order(db, "branches", where)[:2] == ["medtech", "outpatient"]
    office.post(
        f"{ORG}/units/branch/outpatient/move", data={"csrf_token": token, "direction": "up"}
    )
    assert _order(db, "branches", where) == before
    response = office.post(
        f"{ORG}/units/branch/outpatient/move",
        data={"csrf_token": token, "direction": "up"},
        follow_redirects=True,
    )
    assert "已经在最前" in response.get_data(as_text=True)


# ---- deactivating, merging --------------------------------------------------------------------


def test_a_branch_in_use_is_not_deactivated_and_the_page_says_why(office, db, staff):
    _put_wish(db, "pediatrics")
    response = post_form(office, f"{ORG}/units/branch/pediatrics/deactivate", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert _unit(db, Kind.BRANCH, "pediatrics")["active"] == 1
    said = flashes(html)
    assert any("仍在使用" in line and "1 个未办结的心愿" in line for line in said), said
    assert any("2 名在用的账号" in line for line in said)
    page = office.get(f"{ORG}/units/branch/pediatrics").get_data(as_text=True)
    assert "1 个未办结的心愿" in page and "合并到另一个支部" in page


def test_a_unit_not_in_use_is_deactivated_and_brought_back(office, db):
    token = csrf_token(office, ORG)
    office.post(f"{ORG}/units/department/lab/deactivate", data={"csrf_token": token})
    assert _unit(db, Kind.DEPARTMENT, "lab")["active"] == 0
    assert "lab" not in {d["code"] for d in store.departments(db)}
    assert "已停用" in office.get(ORG).get_data(as_text=True)
    office.post(f"{ORG}/units/department/lab/reactivate", data={"csrf_token": token})
    assert _unit(db, Kind.DEPARTMENT, "lab")["active"] == 1
    assert _audited(db, "organisation_unit_deactivated") == 1
    assert _audited(db, "organisation_unit_reactivated") == 1


def test_merging_a_branch_moves_its_open_wishes_and_members(office, db, staff):
    wish = _put_wish(db, "pediatrics")
    done = _put_wish(db, "pediatrics", state="fulfilled")
    preview = office.get(f"{ORG}/merge?source=pediatrics&target=nursing")
    html = preview.get_data(as_text=True)
    assert "1 个未办结的心愿" in html and "2 名在用的账号" in html and "确认合并" in html
    response = office.post(
        f"{ORG}/merge",
        data={"csrf_token": csrf_token(office, ORG), "source": "pediatrics", "target": "nursing"},
    )
    assert response.status_code == 302
    branch_of = {r["id"]: r["branch_code"] for r in db.query("SELECT id, branch_code FROM wishes")}
    assert branch_of[wish] == "nursing" and branch_of[done] == "pediatrics"
    members = db.execute("SELECT count(*) FROM users WHERE branch_code = 'nursing'").fetchone()[0]
    assert members == 2
    merged = _unit(db, Kind.BRANCH, "pediatrics")
    assert (merged["active"], merged["merged_into"], merged["name"]) == (0, "nursing", "儿科党支部")
    assert _audited(db, "organisation_branches_merged") == 1


# ---- the workbook ---------------------------------------------------------------------------


def _xlsx(rows) -> io.BytesIO:
    return io.BytesIO(workbook.to_xlsx(rows))


def _upload(client, data: io.BytesIO, name="organisation.xlsx"):
    page = f"{ORG}/workbook"
    return client.post(
        page,
        data={"csrf_token": csrf_token(client, page), "file": (data, name)},
        content_type="multipart/form-data",
    )


def test_an_uploaded_workbook_is_previewed_then_imported_on_confirm(office, db, app):
    rows = workbook.export_rows(db)
    rows["branches"][0]["name"] = "门诊服务党支部"
    rows["departments"].append(
        {"code": "ward-new", "name": "新病区", "name_en": "", "kind": "ward", "campus": "东院"}
    )
    response = _upload(office, _xlsx(rows))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "门诊服务党支部" in html and "ward-new" in html and "确认导入" in html
    assert _unit(db, Kind.DEPARTMENT, "ward-new") is None  # nothing yet
    upload = re.search(r'name="upload" type="hidden" value="([^"]+)"', html).group(1)
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', html).group(1)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    kept = app.config["WISHES_DATA_DIR"] + f"/uploads/organisation/{upload}"
    assert Path(kept).read_bytes()[:2] == b"PK"
    response = office.post(
        f"{ORG}/workbook/confirm",
        data={"csrf_token": token, "upload": upload, "fingerprint": fingerprint},
    )
    assert response.status_code == 302
    assert _unit(db, Kind.BRANCH, "outpatient")["name"] == "门诊服务党支部"
    assert _unit(db, Kind.DEPARTMENT, "ward-new")["campus"] == "东院"
    assert _audited(db, "organisation_imported") == 1
    assert not Path(kept).exists()


def test_a_stale_preview_is_refused_when_the_organisation_changed_since(office, db):
    rows = workbook.export_rows(db)
    rows["branches"][0]["name"] = "门诊服务党支部"
    html = _upload(office, _xlsx(rows)).get_data(as_text=True)
    fields = dict(
        re.findall(r'name="(csrf_token|upload|fingerprint)" type="hidden" value="([^"]+)"', html)
    )
    store.rename(db, Kind.BRANCH, "medtech", "医技党支部（新）", store_who())
    response = office.post(f"{ORG}/workbook/confirm", data=fields)
    assert words.WORDS["plan_changed"] in response.get_data(as_text=True)
    assert _unit(db, Kind.BRANCH, "outpatient")["name"] != "门诊服务党支部"


def store_who():
    from wishes import audit

    return audit.Who(label="test")


def test_a_bad_workbook_shows_every_problem_and_changes_nothing(office, db):
    rows = workbook.export_rows(db)
    rows["branches"][0]["general_branch"] = "no-such-gb"
    rows["departments"][0]["kind"] = "clinic"
    before = list(db.query("SELECT * FROM branches ORDER BY code"))
    response = _upload(office, _xlsx(rows))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "2 个问题" in html
    assert "branches 表第 2 行 general_branch 列" in html and "no-such-gb" in html
    assert "departments 表第 2 行 kind 列" in html and "clinic" in html
    assert list(db.query("SELECT * FROM branches ORDER BY code")) == before
    not_a_book = _upload(office, io.BytesIO(b"hello"), "notes.xlsx")
    assert not_a_book.status_code == 400 and "无法读取" in not_a_book.get_data(as_text=True)


def test_the_template_downloads_with_its_five_sheets(office):
    response = office.get(f"{ORG}/workbook/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == list(workbook.SHEETS)
    assert [c.value for c in book["branches"][1]] == list(workbook.SHEETS["branches"])
    assert book["branches"].max_row == 2  # one example row
    export = office.get(f"{ORG}/workbook/export.xlsx")
    assert load_workbook(io.BytesIO(export.data))["branches"]["A2"].value == "outpatient"


def test_with_nothing_yet_the_overview_says_what_comes_next(office, db):
    for table in ("routing", "branch_departments", "departments"):
        db.execute(f"DELETE FROM {table}")
    db.execute("UPDATE users SET branch_code = NULL")
    db.execute("DELETE FROM branches")
    db.execute("DELETE FROM general_branches")
    db.conn.commit()
    html = office.get(ORG).get_data(as_text=True)
    assert "还没有任何总支、支部或科室" in html
    assert f'href="{ORG}/workbook/template.xlsx"' in html
    assert f'href="{ORG}/workbook"' in html and 'href="#add-general_branch"' in html


# ---- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [ORG, f"{ORG}/units/branch/pediatrics", f"{ORG}/merge", f"{ORG}/workbook"]
)
def test_a_member_is_refused_and_a_visitor_is_sent_to_log_in(client, staff, path):
    assert client.get(path).status_code == 302
    assert client.get(path).location.startswith("/login")
    login(client, "member_a")
    assert client.get(path).status_code == 403


def test_the_office_finds_the_pages_in_the_navigation(office, client):
    assert f'href="{ORG}"' in office.get("/board").get_data(as_text=True)


# ---- staff in bulk ----------------------------------------------------------------------------


@pytest.fixture
def admin(client, staff):
    assert login(client, "admin").status_code == 302
    return client


def _staff_book(*rows) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    sheet.append(["username", "name", "role", "branch", "phone"])
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def _import_staff(client, data):
    return client.post(
        "/admin/users/import",
        data={"csrf_token": csrf_token(client, "/admin/users"), "file": (data, "staff.xlsx")},
        content_type="multipart/form-data",
    )


def test_staff_import_creates_accounts_and_hands_out_the_passwords_sheet_once(admin, db, app):
    response = _import_staff(
        admin,
        _staff_book(
            ("zhang.wei", "张伟", "member", "pediatrics", "13900001111"),
            ("li.na", "李娜", "支部书记", "总务后勤党支部", ""),
        ),
    )
    assert response.status_code == 200, re.findall(r"<li>([^<]*)</li>", response.text)
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_row=3)]
    assert [r[0] for r in rows] == ["zhang.wei", "li.na"] and all(r[2] for r in rows)
    made = {r["username"]: r for r in db.query("SELECT * FROM users")}
    assert made["li.na"]["branch_code"] == "logistics" and made["zhang.wei"]["must_change_password"]
    # nowhere kept: nothing under the data folder holds it
    data_dir = Path(app.config["WISHES_DATA_DIR"])
    assert not [p for p in data_dir.rglob("*.xlsx")]
    # the list masks the phone; showing it is audited
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "139****1111" in html and "13900001111" not in html
    shown = post_form(admin, f"/admin/users/{made['zhang.wei']['id']}/phone")
    assert "13900001111" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    assert _audited(db, "staff_phone_revealed") == 1


def test_a_bad_staff_sheet_lists_every_problem_by_row_and_creates_no_one(admin, db):
    before = db.execute("SELECT count(*) FROM users").fetchone()[0]
    response = _import_staff(
        admin,
        _staff_book(
            ("ok.person", "好人", "member", "pediatrics", ""),
            ("Bad Name!", "坏", "member", "pediatrics", ""),
            ("no.branch", "无支部", "member", "", ""),
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "第 3 行" in html and "第 4 行" in html and "2 个问题" in html
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == before


def test_the_staff_list_exports_with_phones_masked(admin, db):
    db.execute("UPDATE users SET phone = '13900002222' WHERE username = 'member_a'")
    db.conn.commit()
    response = admin.get("/admin/users/export.xlsx")
    assert response.status_code == 200
    values = [c.value for row in load_workbook(io.BytesIO(response.data)).active for c in row]
    assert "139****2222" in values and "13900002222" not in values
