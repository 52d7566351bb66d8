"""The organisation managed in the app and as one workbook (issue 17, items 1 and 2)."""

import json
import re
import sqlite3
from pathlib import Path

import pytest
from conftest import PASSWORD
from hospital_workbook import hospital_rows
from openpyxl import load_workbook

from wishes import audit, glossary, i18n
from wishes.accounts import store as accounts
from wishes.glossary import organisation as words
from wishes.organisation import store as organisation
from wishes.organisation import workbook
from wishes.organisation.store import Kind, OrganisationError
from wishes.storage import connect, migrations, upgrade

WHO = audit.Who(label="党建工作部")
TABLES = ("general_branches", "branches", "departments", "branch_departments", "routing", "users")


@pytest.fixture
def empty_db(tmp_path):
    """A database with the whole schema and no organisation at all."""
    with connect(tmp_path / "empty.db") as db:
        upgrade(db)
        yield db


def everything(db):
    """Every row of the organisation's tables and of the audit log: to see that nothing moved."""
    rows = {table: list(db.query(f"SELECT * FROM {table} ORDER BY 1, 2")) for table in TABLES}
    rows["wishes"] = list(db.query("SELECT id, branch_code, state FROM wishes ORDER BY id"))
    rows["audit"] = list(db.query("SELECT * FROM audit_events ORDER BY id"))
    return rows


def audit_actions(db):
    return [
        row["action"]
        for row in db.query(
            "SELECT action FROM audit_events WHERE action LIKE 'organisation_%' ORDER BY id"
        )
    ]


def put_wish(db, branch, state="open", department=None, **extra):
    """A wish at a branch with its routing event, as the state machine leaves one."""
    n = db.execute("SELECT count(*) FROM wishes").fetchone()[0]
    wish_id = (
        db.table("wishes")
        .insert(
            {
                "tracking_code": f"TEST{n:03d}",
                "text": "想借个轮椅",
                "state": state,
                "channel": "kiosk",
                "branch_code": branch,
                "department_code": department,
                "created_at": "2026-01-05 08:00:00",
                "updated_at": "2026-01-05 08:00:00",
                **extra,
            }
        )
        .last_pk
    )
    db.table("wish_events").insert(
        {
            "wish_id": wish_id,
            "at": "2026-01-05 08:00:00",
            "action": "route",
            "actor_kind": "router",
            "branch_code": branch,
        }
    )
    return wish_id


def through_xlsx(rows):
    """Rows as the office gets them back from Excel: written to XLSX and read again."""
    return workbook.read_upload("organisation.xlsx", workbook.to_xlsx(rows))


def same_units(exported, rows):
    """The same rows, `serves` in any order (an export lists it in the units' order)."""
    units = [{k: v for k, v in book.items() if k != "serves"} for book in (exported, rows)]
    pairs = [{tuple(row.items()) for row in book["serves"]} for book in (exported, rows)]
    return units[0] == units[1] and pairs[0] == pairs[1]


# ---- one workbook in, one workbook out --------------------------------------------------------


@pytest.mark.parametrize("name", ["organisation.xlsx", "organisation.json", "organisation-csv"])
def test_workbook_round_trips_through_an_empty_database(db, empty_db, tmp_path, name):
    organisation.set_routing(
        db, [{"category": "meals", "department_code": None, "branch_code": "catering"}], WHO
    )
    organisation.set_department_place(db, "ward-oncology", "ward", "东院", WHO)
    exported = workbook.export_rows(db)
    path = workbook.write(exported, tmp_path / name)

    plan = workbook.apply(empty_db, workbook.read(path), WHO)

    assert plan.counts()["add"] == 5 + 10 + 21
    again = workbook.write(workbook.export_rows(empty_db), tmp_path / f"again-{name}")
    assert workbook.read(again).rows() == workbook.read(path).rows() == exported
    assert len(exported["serves"]) == 39 and exported["routing"][0]["branch"] == "catering"
    assert organisation.branches(empty_db)[0]["code"] == "outpatient"


def test_a_hospital_of_34_branches_on_two_campuses_imports(empty_db, tmp_path):
    rows = hospital_rows()
    path = workbook.write(rows, tmp_path / "hospital.xlsx")

    workbook.apply(empty_db, workbook.read(path), WHO)

    assert len(organisation.general_branches(empty_db)) == 6
    assert len(organisation.branches(empty_db)) == 34
    assert len(organisation.departments(empty_db)) == 24
    assert len(organisation.departments(empty_db, kind="ward")) == 12
    assert {d["campus"] for d in organisation.departments(empty_db)} == {"本部", "东院"}
    assert organisation.unit(empty_db, Kind.BRANCH, "branch-05")["name_en"] is None
    assert len(organisation.routing_rows(empty_db)) == 3
    assert workbook.export_rows(empty_db) == rows


def test_importing_the_same_workbook_twice_changes_nothing_the_second_time(empty_db):
    book = through_xlsx(hospital_rows())
    first = workbook.apply(empty_db, book, WHO)
    before = everything(empty_db)

    second = workbook.apply(empty_db, book, WHO)

    assert first and not second and second.lines() == []
    assert everything(empty_db) == before  # not even an audit row


def test_a_confirmed_import_is_refused_when_the_organisation_changed_since_the_preview(db):
    rows = workbook.export_rows(db)
    rows["branches"][0]["name"] = "门诊服务党支部"
    book = through_xlsx(rows)
    preview = workbook.apply(db, book, WHO, dry_run=True)
    organisation.rename(db, Kind.BRANCH, "medtech", "医技第一党支部", WHO)
    before = everything(db)

    with pytest.raises(workbook.WorkbookRefused) as refused:
        workbook.apply(db, book, WHO, expected=preview.fingerprint())

    assert refused.value.problems[0].code == "plan_changed"
    assert everything(db) == before
    organisation.rename(db, Kind.BRANCH, "medtech", "医技党支部", WHO)
    assert workbook.apply(db, book, WHO, expected=preview.fingerprint()).lines() == preview.lines()


def test_the_demo_kinds_of_department_become_department_on_upgrade(tmp_path):
    names = [m.name for m in migrations._migrations]
    with connect(tmp_path / "old.db") as db:
        migrations.apply(db, stop_before="0015_organisation_units")
        db["departments"].insert_all(
            [
                {"code": "clinic-hall", "name": "门诊大厅", "kind": "outpatient"},
                {"code": "lab", "name": "检验科", "kind": "medtech"},
                {"code": "ward-icu", "name": "重症监护病区", "kind": "ward"},
            ]
        )
        assert upgrade(db)[0] == "0015_organisation_units" and names[-1] in migrations_applied(db)
        kinds = dict(db.execute("SELECT code, kind FROM departments").fetchall())
    assert kinds == {"clinic-hall": "department", "lab": "department", "ward-icu": "ward"}


def migrations_applied(db):
    return [m.name for m in migrations.applied(db)]


def test_exporting_the_shipped_organisation_and_importing_it_back_changes_nothing(db):
    before = everything(db)
    assert not workbook.apply(db, through_xlsx(workbook.export_rows(db)), WHO)
    assert everything(db) == before


def test_an_import_renames_moves_deactivates_and_brings_back_units(db):
    rows = workbook.export_rows(db)
    rows["branches"][0]["name"] = "门诊服务党支部"
    rows["branches"][1]["general_branch"] = "internal-medicine"
    rows["branches"] = [b for b in rows["branches"] if b["code"] != "volunteer"]
    rows["serves"] = [s for s in rows["serves"] if s["branch"] != "volunteer"]
    rows["routing"] = [r for r in rows["routing"] if r["branch"] != "volunteer"]
    rows["general_branches"] = [g for g in rows["general_branches"] if g["code"] != "retirees"]
    rows["departments"].reverse()

    plan = workbook.apply(db, through_xlsx(rows), WHO)

    assert {(c.action, c.code) for c in plan.changes} >= {
        ("rename", "outpatient"),
        ("move", "medtech"),
        ("deactivate", "volunteer"),
        ("deactivate", "retirees"),
        ("reorder", ""),
    }
    assert organisation.unit(db, Kind.BRANCH, "outpatient")["name_hant"] == "門診服務黨支部"
    assert "volunteer" not in {b["code"] for b in organisation.branches(db)}
    assert organisation.departments(db)[0]["code"] == "ward-rehabilitation"
    assert same_units(workbook.export_rows(db), rows)

    rows["general_branches"].append({"code": "retirees", "name": "离退休总支", "name_en": ""})
    rows["branches"].append(
        {
            "code": "volunteer",
            "name": "离退休志愿服务党支部",
            "name_en": "",
            "general_branch": "retirees",
            "scope": "",
        }
    )
    plan = workbook.apply(db, through_xlsx(rows), WHO)
    assert ("reactivate", "volunteer") in {(c.action, c.code) for c in plan.changes}
    assert ("unserve", "volunteer") in {(c.action, c.code) for c in plan.changes}
    assert "volunteer" in {b["code"] for b in organisation.branches(db)}
    assert same_units(workbook.export_rows(db), rows)


def test_the_template_has_every_sheet_with_its_columns_and_imports_as_it_is(empty_db, tmp_path):
    (tmp_path / "t.xlsx").write_bytes(workbook.template_xlsx())
    sheets = load_workbook(tmp_path / "t.xlsx")
    assert sheets.sheetnames == list(workbook.SHEETS)
    for name, columns in workbook.SHEETS.items():
        page = sheets[name]
        assert [cell.value for cell in page[1]] == list(columns)
        assert page[1][0].font.bold and page.freeze_panes == "A2"
        assert page.max_row == 2  # one example row
    sheets.close()
    assert workbook.apply(empty_db, workbook.read(tmp_path / "t.xlsx"), WHO)


def test_text_that_looks_like_a_formula_stays_text_in_every_format(empty_db, tmp_path):
    rows = workbook.template_rows()
    rows["branches"][0]["scope"] = '=HYPERLINK("http://x","点我")'
    rows["departments"][0]["name"] = "-心内科"
    for name in ("f.xlsx", "f.json", "f-csv"):
        assert workbook.read(workbook.write(rows, tmp_path / name)).rows() == rows
    sheet = load_workbook(tmp_path / "f.xlsx")["branches"]
    assert sheet["E2"].data_type == "s"


# ---- bad workbooks ----------------------------------------------------------------------------


def _unknown_general_branch(rows, db):
    rows["branches"][2]["general_branch"] = "nowhere"
    return "unknown_general_branch", "branches", 4, "general_branch", "nowhere"


def _duplicate_code(rows, db):
    rows["departments"].append(dict(rows["departments"][0]))
    return "code_duplicate", "departments", 23, "code", "clinic-hall"


def _malformed_code(rows, db):
    rows["general_branches"].append({"code": "ICU_East", "name": "重症总支", "name_en": ""})
    return "code_malformed", "general_branches", 7, "code", "ICU_East"


def _empty_name(rows, db):
    rows["branches"][0]["name"] = ""
    return "name_required", "branches", 2, "name", ""


def _unknown_kind(rows, db):
    rows["departments"][1]["kind"] = "clinic"
    return "unknown_kind", "departments", 3, "kind", "clinic"


def _branch_with_members_left_out(rows, db):
    accounts.create_user(db, "member_x", PASSWORD, "member", branch_code="logistics")
    rows["branches"] = [b for b in rows["branches"] if b["code"] != "logistics"]
    rows["serves"] = [s for s in rows["serves"] if s["branch"] != "logistics"]
    return "still_referred", "branches", None, None, "logistics"


def _ward_with_an_open_wish_left_out(rows, db):
    put_wish(db, "nursing", department="ward-oncology")
    rows["departments"] = [d for d in rows["departments"] if d["code"] != "ward-oncology"]
    rows["serves"] = [s for s in rows["serves"] if s["department"] != "ward-oncology"]
    return "still_referred", "departments", None, None, "ward-oncology"


def _serves_unknown_department(rows, db):
    rows["serves"].append({"branch": "outpatient", "department": "nowhere"})
    return "unknown_department", "serves", 41, "department", "nowhere"


def _routing_unknown_branch(rows, db):
    rows["routing"] = [{"category": "meals", "department": "", "branch": "kitchen"}]
    return "unknown_branch", "routing", 2, "branch", "kitchen"


@pytest.mark.parametrize(
    "spoil",
    [
        _unknown_general_branch,
        _duplicate_code,
        _malformed_code,
        _empty_name,
        _unknown_kind,
        _branch_with_members_left_out,
        _ward_with_an_open_wish_left_out,
        _serves_unknown_department,
        _routing_unknown_branch,
    ],
)
def test_a_bad_workbook_is_refused_naming_sheet_row_and_value_and_changes_nothing(db, spoil):
    rows = workbook.export_rows(db)
    code, sheet, row, column, value = spoil(rows, db)
    before = everything(db)

    with pytest.raises(workbook.WorkbookRefused) as refused:
        workbook.apply(db, through_xlsx(rows), WHO)

    found = [(p.code, p.sheet, p.row, p.column, p.value) for p in refused.value.problems]
    assert (code, sheet, row, column, value) in found
    said = str(refused.value.problems[found.index((code, sheet, row, column, value))])
    assert sheet in said and (row is None or f"第 {row} 行" in said) and value in said
    assert re.search(r"[\u4e00-\u9fff]", said)
    assert everything(db) == before


def test_every_problem_of_a_workbook_is_reported_at_once(db):
    rows = workbook.export_rows(db)
    _unknown_general_branch(rows, db)
    _malformed_code(rows, db)
    _unknown_kind(rows, db)
    problems = workbook.problems(db, through_xlsx(rows))
    assert {p.code for p in problems} == {
        "unknown_general_branch",
        "code_malformed",
        "unknown_kind",
    }
    malformed = next(p for p in problems if p.code == "code_malformed")
    assert "小写英文字母、数字和连字符" in str(malformed)


def test_a_workbook_missing_a_sheet_or_a_column_is_refused(db, tmp_path):
    folder = workbook.write(workbook.export_rows(db), tmp_path / "csv")
    (folder / "serves.csv").unlink()
    (folder / "routing.csv").write_text("category,department,branch\nmeals,,catering\n")
    text = (folder / "departments.csv").read_text(encoding="utf-8-sig")
    (folder / "departments.csv").write_text(text.replace(",kind,", ",type,", 1), encoding="utf-8")

    problems = workbook.problems(db, workbook.read(folder))

    assert [(p.code, p.sheet, p.row) for p in problems] == [
        ("missing_column", "departments", 1),
        ("missing_sheet", "serves", None),
    ]
    assert "kind" in str(problems[0])


def test_a_file_that_is_not_a_workbook_is_refused(db, tmp_path):
    (tmp_path / "notes.xlsx").write_text("not a workbook")
    (tmp_path / "notes.json").write_text("[1, 2]")
    for name in ("notes.xlsx", "notes.json"):
        with pytest.raises(workbook.WorkbookRefused) as refused:
            workbook.apply(db, workbook.read(tmp_path / name), WHO)
        assert refused.value.problems[0].code == "unreadable"


def test_csv_saved_by_excel_on_a_chinese_windows_is_read(db, tmp_path):
    folder = workbook.write(workbook.export_rows(db), tmp_path / "csv")
    for path in folder.iterdir():
        path.write_bytes(path.read_text(encoding="utf-8-sig").encode("gb18030"))
    assert workbook.read(folder).rows() == workbook.export_rows(db)


# ---- the commands -----------------------------------------------------------------------------


def test_import_dry_run_prints_the_plan_and_changes_nothing(db, runner, tmp_path):
    rows = workbook.export_rows(db)
    rows["branches"][0]["name"] = "门诊服务党支部"
    path = workbook.write(rows, tmp_path / "org.json")
    before = everything(db)

    result = runner.invoke(args=["organisation", "import", str(path), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "改名 branches outpatient" in result.output and "门诊服务党支部" in result.output
    assert everything(db) == before


def test_import_command_imports_then_finds_nothing_to_change(db, runner, tmp_path):
    rows = workbook.export_rows(db)
    rows["departments"][0]["campus"] = "本部"
    path = workbook.write(rows, tmp_path / "org.xlsx")

    first = runner.invoke(args=["organisation", "import", str(path)])
    second = runner.invoke(args=["organisation", "import", str(path)])

    assert first.exit_code == 0 and "已导入 1 项修改" in first.output, first.output
    assert second.exit_code == 0 and "无需修改" in second.output
    assert organisation.department(db, "clinic-hall")["campus"] == "本部"


def test_import_command_lists_every_problem_and_exits_non_zero(db, runner, tmp_path):
    rows = workbook.export_rows(db)
    _unknown_kind(rows, db)
    _empty_name(rows, db)
    path = workbook.write(rows, tmp_path / "org-csv")
    before = everything(db)

    result = runner.invoke(args=["organisation", "import", str(path)])

    assert result.exit_code == 1
    assert "departments 表第 3 行 kind 列" in result.output
    assert "branches 表第 2 行 name 列：名称不能为空" in result.output
    assert "2 个问题，未做任何修改" in result.output
    assert everything(db) == before


def test_export_and_template_commands_write_the_format_of_the_path(db, runner, tmp_path):
    for name in ("org.xlsx", "org.json", "org-csv"):
        result = runner.invoke(args=["organisation", "export", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert workbook.read(tmp_path / name).rows() == workbook.export_rows(db)
    assert json.loads((tmp_path / "org.json").read_text())["serves"][0] == {
        "branch": "outpatient",
        "department": "clinic-hall",
    }
    result = runner.invoke(args=["organisation", "template", str(tmp_path / "template.xlsx")])
    assert result.exit_code == 0
    assert workbook.read(tmp_path / "template.xlsx").rows() == workbook.template_rows()


# ---- changes made on the staff pages ----------------------------------------------------------


def test_rename_fills_traditional_from_opencc_unless_typed(db):
    renamed = organisation.rename(db, Kind.BRANCH, "pediatrics", "儿童医学党支部", WHO)
    assert renamed["name_hant"] == "兒童醫學黨支部"
    assert i18n.unit_name(renamed, "zh_Hant") == "兒童醫學黨支部"

    typed = organisation.rename(
        db,
        Kind.BRANCH,
        "pediatrics",
        "儿科党支部",
        WHO,
        name_hant="兒科黨支部（本部）",
        name_en="Pediatrics Party Branch (Main Campus)",
    )
    assert typed["name_hant"] == "兒科黨支部（本部）"
    assert i18n.unit_name(typed, "zh_Hant") == "兒科黨支部（本部）"
    assert i18n.unit_name(typed, "en") == "Pediatrics Party Branch (Main Campus)"

    added = organisation.add_department(db, "ward-icu", "重症监护病区", "ward", WHO, campus="东院")
    assert added["name_hant"] == "重症監護病區" and added["campus"] == "东院"


def unrouted(db, branch):
    """The routing map without the rows that send categories to `branch`."""
    rows = [row for row in organisation.routing_rows(db) if row["branch_code"] != branch]
    organisation.set_routing(db, rows, WHO)


def test_deactivated_units_leave_the_pickers_but_keep_naming_history(db):
    wish = put_wish(db, "volunteer", state="fulfilled", department="ward-geriatrics")
    unrouted(db, "volunteer")

    organisation.deactivate(db, Kind.BRANCH, "volunteer", WHO)
    organisation.deactivate(db, Kind.DEPARTMENT, "ward-geriatrics", WHO)

    assert "volunteer" not in {b["code"] for b in organisation.branches(db)}
    assert "ward-geriatrics" not in {d["code"] for d in organisation.departments(db)}
    assert organisation.department(db, "ward-geriatrics") is None
    assert organisation.branch_names(db)["volunteer"] == "离退休志愿服务党支部"
    everyone = organisation.departments(db, active_only=False)
    assert "ward-geriatrics" in {d["code"] for d in everyone}
    events = list(db.query("SELECT branch_code FROM wish_events WHERE wish_id = ?", [wish]))
    assert events == [{"branch_code": "volunteer"}]

    organisation.reactivate(db, Kind.BRANCH, "volunteer", WHO)
    assert "volunteer" in {b["code"] for b in organisation.branches(db)}


def test_a_unit_still_in_use_cannot_be_deactivated(db):
    put_wish(db, "pediatrics", state="claimed")
    accounts.create_user(db, "member_p", PASSWORD, "member", branch_code="pediatrics")
    with pytest.raises(OrganisationError) as refused:
        organisation.deactivate(db, Kind.BRANCH, "pediatrics", WHO)
    assert refused.value.code == "still_referred"
    assert refused.value.values["uses"] == {"open_wishes": 1, "members": 1, "routing": 2}
    said = words.message(refused.value.code, refused.value.values)
    assert said.startswith("支部“pediatrics”（儿科党支部）仍在使用")
    assert said.endswith("：1 个未办结的心愿、1 名在用的账号、分派表中的 2 行")
    with pytest.raises(OrganisationError, match="still_referred"):
        organisation.deactivate(db, Kind.GENERAL_BRANCH, "women-children", WHO)
    assert organisation.unit(db, Kind.BRANCH, "pediatrics")["active"] == 1


def test_units_are_added_reordered_and_checked(db):
    organisation.add_general_branch(db, "surgery", "外科总支", WHO, name_en="Surgery")
    organisation.add_branch(db, "surgery-1", "外科第一党支部", "surgery", WHO)
    assert organisation.branches(db)[-1]["code"] == "surgery-1"

    organisation.reorder(db, Kind.GENERAL_BRANCH, ["surgery", "outpatient-medtech"], WHO)
    order = [g["code"] for g in organisation.general_branches(db)]
    assert order == ["surgery", "internal-medicine", "women-children", "administration"] + [
        "retirees",
        "outpatient-medtech",
    ]
    for bad, code in [
        (
            lambda: organisation.add_branch(db, "Surgery 2", "外科", "surgery", WHO),
            "code_malformed",
        ),
        (lambda: organisation.add_branch(db, "surgery-1", "外科", "surgery", WHO), "code_taken"),
        (lambda: organisation.add_branch(db, "s-2", "  ", "surgery", WHO), "name_required"),
        (lambda: organisation.add_branch(db, "s-2", "外科", "nowhere", WHO), "unknown_unit"),
        (lambda: organisation.add_department(db, "d-1", "外科", "clinic", WHO), "unknown_kind"),
    ]:
        with pytest.raises(OrganisationError) as refused:
            bad()
        assert refused.value.code == code


def test_every_change_leaves_an_audit_row(db):
    organisation.add_general_branch(db, "surgery", "外科总支", WHO)
    organisation.add_branch(db, "surgery-1", "外科第一党支部", "surgery", WHO)
    organisation.add_department(db, "ward-icu", "重症监护病区", "ward", WHO)
    organisation.rename(db, Kind.BRANCH, "surgery-1", "外科一支部", WHO)
    organisation.move_branch(db, "surgery-1", "internal-medicine", WHO)
    organisation.set_scope(db, "surgery-1", "手术前后的陪伴", WHO)
    organisation.set_department_place(db, "ward-icu", "ward", "东院", WHO)
    organisation.reorder(db, Kind.DEPARTMENT, ["ward-icu", "clinic-hall"], WHO)
    organisation.set_served_departments(db, "surgery-1", ["ward-icu"], WHO)
    organisation.set_routing(
        db,
        [{"category": "nursing_care", "department_code": "ward-icu", "branch_code": "surgery-1"}],
        WHO,
    )
    organisation.deactivate(db, Kind.GENERAL_BRANCH, "surgery", WHO)
    organisation.reactivate(db, Kind.GENERAL_BRANCH, "surgery", WHO)
    organisation.merge_branches(db, "surgery-1", "nursing", WHO)

    assert audit_actions(db) == [
        "organisation_unit_added",
        "organisation_unit_added",
        "organisation_unit_added",
        *["organisation_unit_changed"] * 7,
        "organisation_unit_deactivated",
        "organisation_unit_reactivated",
        "organisation_branches_merged",
    ]
    assert all(action in glossary.AUDIT_EVENTS for action in audit_actions(db))
    renamed = next(
        json.loads(row["detail"])
        for row in db.query(
            "SELECT detail FROM audit_events WHERE action = ? AND subject_id = ?",
            ["organisation_unit_changed", "surgery-1"],
        )
    )
    assert renamed["name"] == ["外科第一党支部", "外科一支部"]

    # the same again changes nothing and records nothing
    count = len(audit_actions(db))
    organisation.rename(db, Kind.BRANCH, "surgery-1", "外科一支部", WHO)
    organisation.set_scope(
        db, "nursing", organisation.unit(db, Kind.BRANCH, "nursing")["scope"], WHO
    )
    organisation.deactivate(db, Kind.BRANCH, "surgery-1", WHO)
    assert len(audit_actions(db)) == count


def test_an_import_leaves_an_audit_row_for_each_change_and_one_for_the_import(empty_db):
    plan = workbook.apply(empty_db, through_xlsx(hospital_rows()), WHO)
    actions = audit_actions(empty_db)
    assert actions[-1] == "organisation_imported"
    assert actions.count("organisation_unit_added") == 6 + 34 + 24 == plan.counts()["add"]


# ---- merging two branches ---------------------------------------------------------------------


def test_merge_moves_open_wishes_and_members_and_history_keeps_the_old_name(db):
    open_wish = put_wish(db, "pediatrics", "open")
    claimed = put_wish(
        db, "pediatrics", "claimed", claimant_kind="branch", claimant_name="儿科党支部"
    )
    done = put_wish(
        db, "pediatrics", "fulfilled", claimant_kind="branch", claimant_name="儿科党支部"
    )
    member = accounts.create_user(db, "member_p", PASSWORD, "member", branch_code="pediatrics")
    organisation.set_routing(
        db, [{"category": "child_joy", "department_code": None, "branch_code": "pediatrics"}], WHO
    )

    moved = organisation.merge_branches(db, "pediatrics", "nursing", WHO)

    assert moved == {"wishes": [open_wish, claimed], "members": 1, "routing": 1}
    where = dict(db.execute("SELECT id, branch_code FROM wishes").fetchall())
    assert where == {open_wish: "nursing", claimed: "nursing", done: "pediatrics"}
    assert db.execute("SELECT claimant_name FROM wishes WHERE id = ?", [claimed]).fetchone() == (
        "儿科党支部",
    )
    events = [row[0] for row in db.execute("SELECT branch_code FROM wish_events ORDER BY id")]
    assert events == ["pediatrics"] * 3
    assert db.execute("SELECT branch_code FROM users WHERE id = ?", [member["id"]]).fetchone() == (
        "nursing",
    )
    assert organisation.routing_rows(db)[0]["branch_code"] == "nursing"
    source = organisation.unit(db, Kind.BRANCH, "pediatrics")
    assert (source["active"], source["merged_into"]) == (0, "nursing")
    assert "pediatrics" not in {b["code"] for b in organisation.branches(db)}
    assert organisation.branch_names(db)["pediatrics"] == "儿科党支部"
    assert "clinic-pediatrics" in organisation.served_departments(db)["nursing"]
    counts = dict(
        db.execute(
            "SELECT state, n FROM wish_state_counts WHERE branch_code = 'nursing'"
        ).fetchall()
    )
    assert counts == {"open": 1, "claimed": 1}
    assert audit_actions(db)[-1] == "organisation_branches_merged"
    with pytest.raises(OrganisationError, match="already_merged"):
        organisation.merge_branches(db, "pediatrics", "nursing", WHO)


def test_a_merge_that_fails_half_way_changes_nothing(db):
    put_wish(db, "pediatrics", "open")
    accounts.create_user(db, "member_p", PASSWORD, "member", branch_code="pediatrics")
    before = everything(db)
    # The accounts are moved after the wishes: make that step fail, as a full disk would.
    db.execute(
        "CREATE TEMP TRIGGER users_fail BEFORE UPDATE ON users "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    try:
        with pytest.raises(sqlite3.IntegrityError, match="disk full"):
            organisation.merge_branches(db, "pediatrics", "nursing", WHO)
    finally:
        db.execute("DROP TRIGGER users_fail")
    assert everything(db) == before


def test_a_branch_cannot_be_merged_into_itself_or_an_inactive_branch(db):
    unrouted(db, "volunteer")
    organisation.deactivate(db, Kind.BRANCH, "volunteer", WHO)
    for source, target, code in [
        ("pediatrics", "pediatrics", "merge_into_itself"),
        ("pediatrics", "volunteer", "inactive"),
        ("pediatrics", "nowhere", "unknown_unit"),
    ]:
        with pytest.raises(OrganisationError) as refused:
            organisation.merge_branches(db, source, target, WHO)
        assert refused.value.code == code


def test_every_refusal_has_words():
    source = "\n".join(
        (Path(workbook.__file__).parent / name).read_text(encoding="utf-8")
        for name in ("store.py", "workbook.py")
    )
    codes = set(re.findall(r'(?:OrganisationError|Problem|_problem)\(\s*"([a-z_]+)"', source))
    codes |= {"code_required", "code_malformed"}
    assert codes and codes <= set(words.WORDS), codes - set(words.WORDS)
