"""A fresh install in a real browser: `wishes serve` on an empty data folder prints a set-up
code; the first administrator sets the hospital up through /setup, then logs in."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hospital_workbook import hospital_rows
from openpyxl import Workbook
from playwright.sync_api import expect

from .conftest import ARTIFACTS, COMMON, DESK, PHONE, _answers, free_port

ADMIN_PASSWORD = "晚霞 over the river 7"
OFFICE_PASSWORD = "星星 under the bridge 9"
MEMBER_PASSWORD = "绘本 and a dinosaur 5"
WISH = "我是小宇，我想要一本恐龙绘本"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def fresh_server():
    """`wishes serve` (no --demo) on an empty data folder; yields its URL and its console."""
    root = Path(tempfile.mkdtemp(prefix="e2e-fresh-", dir="/tmp"))
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("WISHES_")}
    env.update(
        WISHES_DATA_DIR=str(root / "data"),
        WISHES_MODELS_DIR=str(root / "models"),
        WISHES_BIND=f"127.0.0.1:{port}",
        WISHES_THREADS="2",
    )
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "wishes"), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(base_url + "/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"wishes serve did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base_url, log_path
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "first-run-server.log")
        shutil.rmtree(root, ignore_errors=True)


def _fill_accounts(page) -> None:
    """Set-up step 3: the administrator's password and the office's first account."""
    expect(page.get_by_role("heading", name="第 3 步：管理员和党建办账号")).to_be_visible()
    page.locator("#admin_password").fill(ADMIN_PASSWORD)
    page.locator("#admin_confirm").fill(ADMIN_PASSWORD)
    page.locator("#office_name").fill("党建办小王")
    page.locator("#office_password").fill(OFFICE_PASSWORD)
    page.locator("#office_confirm").fill(OFFICE_PASSWORD)


def test_a_fresh_install_is_set_up_through_the_pages(browser, fresh_server, shot):
    base_url, log_path = fresh_server
    console = log_path.read_text(errors="replace")
    code = re.search(r"set-up code: (\S+)", console).group(1)
    assert "first administrator created" not in console
    context = browser.new_context(base_url=base_url, **DESK, **COMMON)
    page = context.new_page()

    page.goto("/login")
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.locator("#code").fill("WRONG-CODE1")
    page.get_by_role("button", name="开始设置").click()
    expect(page.locator(".field-error")).to_contain_text("设置码不对")
    page.locator("#code").fill(code)
    page.get_by_role("button", name="开始设置").click()

    expect(page.get_by_role("heading", name="第 1 步：医院名称和公网地址")).to_be_visible()
    page.locator("#name").fill("第一人民医院")
    page.locator("#public_url").fill("http://10.2.3.4:8000")
    shot(page, "setup-hospital", full_page=True)
    page.get_by_role("button", name="下一步").click()

    expect(page.get_by_role("heading", name="第 2 步：组织架构")).to_be_visible()
    shot(page, "setup-organisation", full_page=True)
    page.get_by_role("button", name="使用示范组织架构").click()

    _fill_accounts(page)
    shot(page, "setup-accounts", full_page=True)
    page.get_by_role("button", name="完成设置").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash")).to_contain_text("设置完成")
    page.locator("#username").fill("admin")
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/board"))
    page.goto("/admin/settings")
    expect(page.locator("#WISHES_PUBLIC_URL-value")).to_have_value("http://10.2.3.4:8000")
    shot(page, "settings-after-setup", full_page=True)

    assert page.request.get(base_url + "/setup").status == 404
    patient = browser.new_context(base_url=base_url, **COMMON).new_page()
    patient.goto("/w/new")
    expect(patient.locator("body")).to_contain_text("第一人民医院")
    context.close()


def _workbook_xlsx() -> bytes:
    """The hospital's workbook as its office would save it from Excel: one sheet per list."""
    book = Workbook()
    book.remove(book.active)
    for sheet, rows in hospital_rows().items():
        columns = list(rows[0])
        worksheet = book.create_sheet(sheet)
        worksheet.append(columns)
        for row in rows:
            worksheet.append([row[column] for column in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _set_up_with_workbook(page, code: str) -> None:
    page.goto("/setup")
    page.locator("#code").fill(code)
    page.get_by_role("button", name="开始设置").click()
    page.locator("#name").fill("东湖人民医院")
    page.locator("#public_url").fill("http://10.2.3.4:8000")
    page.get_by_role("button", name="下一步").click()

    expect(page.get_by_role("heading", name="第 2 步：组织架构")).to_be_visible()
    page.locator("#workbook").set_input_files(
        {"name": "组织架构.xlsx", "mimeType": XLSX, "buffer": _workbook_xlsx()}
    )
    page.get_by_role("button", name="上传并预览").click()
    expect(page.get_by_role("heading", name="导入后将做以下修改")).to_be_visible()
    summary = page.locator("main .tag")
    expect(summary.get_by_text("新增 64", exact=True)).to_be_visible()  # 6 + 34 + 24 units
    expect(summary.get_by_text("新增服务科室 34", exact=True)).to_be_visible()
    expect(page.locator(".plan-lines")).to_contain_text("branch-18（儿科党支部）")
    page.get_by_role("button", name="确认导入").click()

    _fill_accounts(page)
    page.get_by_role("button", name="完成设置").click()
    expect(page.locator(".flash")).to_contain_text("设置完成")


def _log_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_a_hospital_sets_up_from_its_workbook_and_a_wish_goes_end_to_end(
    browser, fresh_server, shot
):
    base_url, log_path = fresh_server
    code = re.search(r"set-up code: (\S+)", log_path.read_text(errors="replace")).group(1)
    desk = browser.new_context(base_url=base_url, **DESK, **COMMON)
    admin = desk.new_page()
    _set_up_with_workbook(admin, code)
    shot(admin, "workbook-imported")

    # Nothing yet: each empty page says what comes next and links to it.
    _log_in(admin, "admin", ADMIN_PASSWORD)
    expect(admin.locator(".empty")).to_contain_text("还没有患者写下心愿")
    expect(admin.locator(".empty").get_by_role("link", name="打印床头卡")).to_be_visible()
    shot(admin, "empty-board")
    admin.goto("/dashboard")
    expect(admin.get_by_role("link", name="新建或导入问卷")).to_be_visible()
    expect(admin.locator(".empty").filter(has_text="这段时间没有患者写下心愿")).to_be_visible()
    shot(admin, "empty-dashboard", full_page=True)
    admin.goto("/assessment")
    expect(admin.locator(".empty").get_by_role("link", name="新建考评轮次")).to_be_visible()
    admin.goto("/cards")
    expect(admin.locator(".card-list li")).to_have_count(24)

    # The administrator adds a member of an imported branch.
    admin.goto("/admin/users/new")
    admin.locator("#username").fill("li.na")
    admin.locator("#display_name").fill("李娜")
    admin.locator("#role").select_option("member")
    admin.locator("#branch").select_option(label="儿科党支部")
    admin.get_by_role("button", name="保存").click()
    temporary = admin.locator("code.secret").inner_text().strip()

    # A patient on a phone: the form lists the hospital's own 24 departments and wards.
    phone = browser.new_context(base_url=base_url, **PHONE, **COMMON).new_page()
    phone.goto("/w/new")
    expect(phone.locator("body")).to_contain_text("东湖人民医院")
    departments = phone.locator("#department option:not([value=''])")
    expect(departments).to_have_count(24)
    phone.locator("#department").select_option(label="儿科病区")
    phone.locator("#text").fill(WISH)
    phone.get_by_role("button", name="提交心愿").tap()
    expect(phone).to_have_url(re.compile(r"/t/[0-9A-Z]{7}$"))
    tracking = phone.url
    shot(phone, "patient-wish-received")

    # The router's labels are no branch of this hospital: the office decides.
    office = browser.new_context(base_url=base_url, **DESK, **COMMON).new_page()
    _log_in(office, "office", OFFICE_PASSWORD)
    office.goto("/board?state=triage&branch=all")
    office.get_by_role("link", name=WISH).click()
    header = office.locator(".wish-header")
    expect(header.locator(".state-badge")).to_have_text("待分诊")
    office.locator("#action-triage").get_by_label("儿科党支部").check()
    office.locator("#action-triage").get_by_role("button", name="分诊").click()
    expect(header.locator(".state-badge")).to_have_text("待认领")

    # The member signs in for the first time, sets a password, claims and fulfils.
    member = browser.new_context(base_url=base_url, **DESK, **COMMON).new_page()
    _log_in(member, "li.na", temporary)
    member.locator("#current").fill(temporary)
    member.locator("#new").fill(MEMBER_PASSWORD)
    member.locator("#confirm").fill(MEMBER_PASSWORD)
    member.get_by_role("button", name="保存新密码").click()
    member.goto("/board")
    member.get_by_role("link", name=WISH).click()
    header = member.locator(".wish-header")
    expect(header).to_contain_text("儿科党支部")
    member.locator("#action-claim").get_by_label("以本支部名义").check()
    member.locator("#action-claim").get_by_role("button", name="认领").click()
    expect(header.locator(".state-badge")).to_have_text("已认领")
    fulfil = member.locator("#action-fulfil")
    fulfil.get_by_label("做了什么（患者会看到）").fill("送去了一本恐龙绘本，小宇很喜欢")
    fulfil.get_by_role("button", name="登记办结").click()
    expect(header.locator(".state-badge")).to_have_text("已实现")
    shot(member, "member-fulfilled")

    phone.goto(tracking)
    expect(phone.locator(".status-card .state-badge")).to_have_text("已实现")
    expect(phone.locator(".status-card")).to_contain_text("儿科党支部")
    expect(phone.locator(".note-good")).to_contain_text("恐龙绘本")
    shot(phone, "patient-sees-fulfilled", full_page=True)
    desk.close()
