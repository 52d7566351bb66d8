"""A fresh install in a real browser: `wishes serve` on an empty data folder prints a set-up
code; the first administrator sets the hospital up through /setup, then logs in."""

from __future__ import annotations

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
from playwright.sync_api import expect

from .conftest import ARTIFACTS, COMMON, DESK, _answers, free_port

ADMIN_PASSWORD = "晚霞 over the river 7"
OFFICE_PASSWORD = "星星 under the bridge 9"


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
        WISHES_WORKERS="2",
        WISHES_THREADS="1",
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

    expect(page.get_by_role("heading", name="第 3 步：管理员和党建办账号")).to_be_visible()
    page.locator("#admin_password").fill(ADMIN_PASSWORD)
    page.locator("#admin_confirm").fill(ADMIN_PASSWORD)
    page.locator("#office_name").fill("党建办小王")
    page.locator("#office_password").fill(OFFICE_PASSWORD)
    page.locator("#office_confirm").fill(OFFICE_PASSWORD)
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
