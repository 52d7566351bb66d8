"""Staff in bulk: a workbook of new colleagues in (all or nothing), their temporary passwords out
once, and the staff list out with phone numbers masked unless a reveal is asked for and audited."""

import csv
import io
import os
import stat

import pytest
from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from wishes import audit
from wishes.accounts import staff_sheet, store

HEADER = ["username", "name", "role", "branch", "phone"]
GOOD_ROWS = [
    ["wang.fang", "王芳", "member", "pediatrics", "138 0013 8000"],
    ["Li.Qiang", "李强", "支部书记", "儿科党支部", ""],  # a label and a branch's name
    ["zhao.min", "赵敏", "党建办分诊员", "", "+86 139-0013-9000"],
    [10023, "工号一万零二十三", "manager", None, 13700137000],  # numbers typed as numbers
]


def xlsx(rows, header=HEADER):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8"):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode(encoding)


def read_xlsx(data):
    sheet = load_workbook(io.BytesIO(data)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def events(db, action):
    return list(db.query("SELECT * FROM audit_events WHERE action = ? ORDER BY id", [action]))


def test_a_good_sheet_creates_every_account_and_hands_out_the_passwords_once(
    runner, db, tmp_path, app
):
    sheet = tmp_path / "staff.xlsx"
    sheet.write_bytes(xlsx(GOOD_ROWS))
    out = tmp_path / "passwords.xlsx"
    result = runner.invoke(args=["staff", "import", str(sheet), "--passwords-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "created 4 accounts" in result.output

    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    header, *handed, _, note = read_xlsx(out.read_bytes())
    assert header == ["username", "name", "temporary password"]
    assert "只在这里出现一次" in note[0]
    passwords = {username: password for username, _, password in handed}
    assert set(passwords) == {"wang.fang", "li.qiang", "zhao.min", "10023"}

    accounts = {u["username"]: u for u in db.query("SELECT * FROM users")}
    assert accounts["wang.fang"]["role"] == "member"
    assert accounts["wang.fang"]["branch_code"] == "pediatrics"
    assert accounts["wang.fang"]["phone"] == "13800138000"
    assert accounts["li.qiang"]["role"] == "secretary"
    assert accounts["li.qiang"]["branch_code"] == "pediatrics"
    assert accounts["zhao.min"]["role"] == "triager"
    assert accounts["zhao.min"]["phone"] == "13900139000"
    assert accounts["10023"]["phone"] == "13700137000"
    assert {u["source"] for u in accounts.values()} == {"local"}
    for username, password in passwords.items():
        user = store.check_password(db, username, password)
        assert user is not None and user["must_change_password"] == 1

    # The passwords are written nowhere else: not in the output, the audit log or the database.
    kept = (
        result.output
        + "".join(str(row) for row in db.query("SELECT * FROM audit_events"))
        + "".join(str(row) for row in db.query("SELECT * FROM users"))
    )
    assert not any(password in kept for password in passwords.values())
    assert len(events(db, "user_created")) == 4 and len(events(db, "staff_imported")) == 1

    # The file is not overwritten, and nothing is created when it would be.
    again = tmp_path / "more.csv"
    again.write_bytes(csv_bytes([["new.one", "新人", "manager", "", ""]]))
    result = runner.invoke(args=["staff", "import", str(again), "--passwords-out", str(out)])
    assert result.exit_code == 1 and "not overwritten" in result.output
    assert store.find_user(db, "new.one") is None
    assert read_xlsx(out.read_bytes())[1][0] in passwords


def test_the_new_colleague_must_change_the_temporary_password(runner, app, tmp_path):
    from conftest import login

    sheet = tmp_path / "staff.csv"
    sheet.write_bytes(csv_bytes([["sun.li", "孙丽", "member", "nursing", ""]]))
    out = tmp_path / "passwords.xlsx"
    runner.invoke(args=["staff", "import", str(sheet), "--passwords-out", str(out)])
    password = read_xlsx(out.read_bytes())[1][2]
    client = app.test_client()
    assert login(client, "sun.li", password).status_code == 302
    response = client.get("/board")
    assert response.status_code == 302 and "/account/password" in response.location


def test_every_bad_row_is_named_and_nothing_is_created(runner, db, staff, tmp_path):
    db.execute("UPDATE branches SET active = 0 WHERE code = 'volunteer'")
    db.conn.commit()
    rows = [
        ["ok.one", "正常", "member", "pediatrics", ""],  # row 2: fine, yet not created
        ["ok.two", "正常", "doctor", "", ""],  # row 3
        ["ok.three", "正常", "member", "cardiology", ""],  # row 4
        ["ok.four", "正常", "member", "volunteer", ""],  # row 5
        ["ok.five", "正常", "党员", "", ""],  # row 6
        ["ok.one", "重复", "manager", "", ""],  # row 7
        ["ok.six", "正常", "manager", "", "1380013800"],  # row 8
        ["member_a", "已有", "manager", "", ""],  # row 9
        ["王 芳", "正常", "manager", "", ""],  # row 10
        ["ok.seven", "", "manager", "", ""],  # row 11
        ["ok.eight", "正常", "manager", "pediatrics", ""],  # row 12
    ]
    sheet = tmp_path / "staff.csv"
    sheet.write_bytes(csv_bytes(rows))
    out = tmp_path / "passwords.xlsx"
    result = runner.invoke(args=["staff", "import", str(sheet), "--passwords-out", str(out)])
    assert result.exit_code == 1 and "nothing imported" in result.output
    for words in [
        "第 3 行：没有这个角色“doctor”",
        "第 4 行：没有这个党支部“cardiology”",
        "第 5 行：党支部“volunteer”已停用",
        "第 6 行：角色“党员”必须填写所属党支部",
        "第 7 行：用户名“ok.one”在表格里前面已经出现过",
        "第 8 行：手机号“1380013800”不是 11 位手机号码",
        "第 9 行：用户名“member_a”已被使用",
        "第 10 行：用户名“王 芳”只能用小写字母",
        "第 11 行：请填写姓名",
        "第 12 行：角色“manager”不属于党支部",
    ]:
        assert words in result.output
    assert "第 2 行" not in result.output
    assert not out.exists()
    assert store.find_user(db, "ok.one") is None and db["users"].count == len(staff)
    assert events(db, "user_created") == []


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x00\x01\x02 not a sheet \xff\xfe", "无法读取这个文件"),
        (b"PK\x03\x04 a broken zip", "无法读取这个文件"),
        (csv_bytes([]), "表格里没有员工"),
        (b"", "表格里没有员工"),
        (
            csv_bytes([["a.b", "名", "manager"]], header=["username", "name", "role"]),
            "缺少“branch”列",
        ),
    ],
)
def test_a_file_that_is_not_a_staff_sheet_is_refused_with_a_reason(db, data, words):
    with pytest.raises(staff_sheet.SheetRefused) as refused:
        staff_sheet.check(db, staff_sheet.read_rows(data))
    assert words in " ".join(problem.words() for problem in refused.value.problems)


def test_a_csv_saved_by_excel_on_a_chinese_pc_is_read(db):
    data = csv_bytes([["chen.jing", "陈静", "党员", "护理党支部", ""]], encoding="gbk")
    [row] = staff_sheet.check(db, staff_sheet.read_rows(data))
    assert (row.name, row.role, row.branch_code) == ("陈静", "member", "nursing")


def test_chinese_column_titles_and_extra_columns_are_understood(db):
    data = csv_bytes(
        [["chen.jing", "陈静", "备注", "党员", "护理党支部", "13800138000"]],
        header=["用户名", "姓名", "备注", "角色", "党支部", "手机号"],
    )
    [row] = staff_sheet.check(db, staff_sheet.read_rows(data))
    assert (row.username, row.phone) == ("chen.jing", "13800138000")


def test_a_username_taken_meanwhile_stops_the_whole_import(db):
    rows = staff_sheet.check(db, staff_sheet.read_rows(xlsx(GOOD_ROWS)))
    store.create_user(db, "zhao.min", PASSWORD, "manager")  # between the check and the import
    with pytest.raises(staff_sheet.SheetRefused) as refused:
        staff_sheet.import_staff(db, rows, audit.Who(label="test"))
    assert refused.value.problems[0].words() == "第 4 行：用户名“zhao.min”已被使用。"
    assert db["users"].count == 1 and events(db, "staff_imported") == []


def test_when_the_passwords_cannot_be_handed_out_no_account_is_created(db):
    rows = staff_sheet.check(db, staff_sheet.read_rows(xlsx(GOOD_ROWS)))

    def disk_full(sheet):
        raise OSError("No space left on device")

    with pytest.raises(OSError):
        staff_sheet.import_staff(db, rows, audit.Who(label="test"), disk_full)
    assert db["users"].count == 0 and db["audit_events"].count == 0


def test_check_only_creates_nothing(runner, db, tmp_path):
    sheet = tmp_path / "staff.xlsx"
    sheet.write_bytes(xlsx(GOOD_ROWS))
    result = runner.invoke(args=["staff", "import", str(sheet), "--check"])
    assert result.exit_code == 0 and "4 accounts can be imported" in result.output
    assert db["users"].count == 0
    result = runner.invoke(args=["staff", "import", str(sheet)])
    assert result.exit_code == 2 and "--passwords-out" in result.output


@pytest.fixture
def imported(db):
    rows = staff_sheet.check(db, staff_sheet.read_rows(xlsx(GOOD_ROWS)))
    staff_sheet.import_staff(db, rows, audit.Who(label="test"))
    return {u["username"]: u for u in db.query("SELECT * FROM users")}


def test_the_exported_list_masks_phone_numbers(runner, db, imported, tmp_path):
    out = tmp_path / "staff.xlsx"
    result = runner.invoke(args=["staff", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    header, *rows = read_xlsx(out.read_bytes())
    assert header == staff_sheet.EXPORT_COLUMNS
    by_name = {row[0]: row for row in rows}
    assert by_name["wang.fang"] == [
        "wang.fang",
        "王芳",
        "党员",
        "儿科党支部",
        "138****8000",
        "在用",
        "本地密码",
    ]
    assert by_name["li.qiang"][4] is None  # no phone: an empty cell
    assert "13800138000" not in str(rows)
    [exported] = events(db, "exported")
    assert '"phones": "masked"' in exported["detail"]
    assert events(db, "staff_phone_revealed") == []
    # Never overwritten.
    assert runner.invoke(args=["staff", "export", str(out)]).exit_code == 1


def test_full_numbers_only_on_an_audited_reveal(runner, db, imported, tmp_path):
    out = tmp_path / "staff.csv"
    result = runner.invoke(args=["staff", "export", str(out), "--reveal-phones"])
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8-sig")
    assert "13800138000" in text and "13900139000" in text
    revealed = events(db, "staff_phone_revealed")
    with_phone = {imported[n]["id"] for n in ("wang.fang", "zhao.min", "10023")}
    assert {int(e["subject_id"]) for e in revealed} == with_phone
    assert all(e["actor_label"] == "command line" for e in revealed)
    assert "13800138000" not in str(list(db.query("SELECT * FROM audit_events")))


def test_revealing_one_colleagues_phone_is_audited(db, imported):
    who = audit.Who(7, "admin", "10.0.0.5")
    user_id = imported["wang.fang"]["id"]
    assert staff_sheet.reveal_phone(db, user_id, who) == "13800138000"
    [event] = events(db, "staff_phone_revealed")
    assert (event["actor_label"], event["address"], event["subject_id"]) == (
        "admin",
        "10.0.0.5",
        str(user_id),
    )
    # Without a number there is nothing to reveal and nothing is recorded.
    assert staff_sheet.reveal_phone(db, imported["li.qiang"]["id"], who) is None
    assert len(events(db, "staff_phone_revealed")) == 1
    # The list itself never carries the full number.
    listed = {u["username"]: u for u in store.staff_list(db)}
    assert listed["wang.fang"]["phone_masked"] == "138****8000"
    assert "phone" not in listed["wang.fang"]


def test_no_exported_cell_can_run_as_a_formula(db):
    data = csv_bytes([["calc", '=HYPERLINK("http://x")', "manager", "", ""]])
    rows = staff_sheet.check(db, staff_sheet.read_rows(data))
    staff_sheet.import_staff(db, rows, audit.Who(label="test"))
    exported = staff_sheet.export_staff(db, audit.Who(label="test"))
    sheet = load_workbook(io.BytesIO(staff_sheet.staff_xlsx(exported))).active
    cell = sheet["B2"]
    assert cell.data_type == "s" and cell.value.startswith("'=")
    assert "'=HYPERLINK" in staff_sheet.staff_csv(exported).decode("utf-8-sig")


def test_the_schema_has_staff_phones_and_sign_in_sources(db):
    applied = [row["name"] for row in db.query("SELECT name FROM _sqlite_migrations")]
    assert "0016_staff_phone_and_directory" in applied
    columns = db["users"].columns_dict
    assert "phone" in columns and "source" in columns


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.lists(st.lists(st.text(max_size=30), max_size=7), max_size=8).map(
            lambda rows: csv_bytes(rows)
        ),
    )
)
def test_any_file_is_imported_or_refused_with_reasons_never_an_error(db, data):
    try:
        rows = staff_sheet.check(db, staff_sheet.read_rows(data))
    except staff_sheet.SheetRefused as refused:
        assert refused.problems and all(p.words() for p in refused.problems)
    else:
        assert all(store.USERNAME_PATTERN.match(row.username) for row in rows)
    assert db["users"].count == 0
