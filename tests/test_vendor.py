"""Front-end libraries served by the app itself (wishes/vendor.py): only the allow-listed files."""

import json
import logging

import pytest

from wishes import vendor
from wishes.settings import PROJECT_ROOT
from wishes.web import CONTENT_SECURITY_POLICY

NEEDS_NPM = "the front-end packages are not installed: run `npm ci` (./scripts/test does)"


def test_chart_library_is_served_as_javascript_under_the_apps_csp(app, client):
    with app.test_request_context():
        url = app.jinja_env.from_string("{{ vendor_url('chart.umd.min.js') }}").render()
    assert url == "/vendor/chart.umd.min.js?v=4.6.1", NEEDS_NPM
    with client.get(url) as response:
        assert response.status_code == 200, NEEDS_NPM
        assert response.mimetype == "text/javascript"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.cache_control.max_age == vendor.MAX_AGE_SECONDS
        assert response.get_data().startswith(b"/*!\n * Chart.js v4.6.1\n")


def test_the_chart_library_installed_is_the_exact_version_pinned():
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text(encoding="utf-8"))
    locked = json.loads((PROJECT_ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert pinned["dependencies"]["chart.js"] == "4.6.1"
    assert locked["packages"]["node_modules/chart.js"]["version"] == "4.6.1"
    assert vendor.installed_version("chart.js") == "4.6.1", NEEDS_NPM


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/../package.json",
        "/vendor/%2e%2e/package.json",
        "/vendor/%2e%2e%2fpackage.json",
        "/vendor/..%2f..%2fpyproject.toml",
        "/vendor/%2fetc%2fpasswd",
        "/vendor/package.json",
        "/vendor/chart.js",
        "/vendor/chart.umd.js",  # in node_modules, but not on the list
        "/vendor/chart.umd.min.js.map",
        "/vendor/chart.js%2fdist%2fchart.umd.min.js",
        "/vendor/CHART.UMD.MIN.JS",
        "/vendor/",
    ],
)
def test_a_file_outside_the_allow_list_is_not_found(client, path):
    with client.get(path) as response:
        assert response.status_code == 404
        assert b"Chart.js" not in response.get_data()


def test_without_node_modules_the_library_is_not_found_and_logged_once(
    app, client, monkeypatch, tmp_path, caplog
):
    monkeypatch.setattr(vendor, "NODE_MODULES", tmp_path / "node_modules")
    monkeypatch.setattr(vendor, "_warned_missing", set())
    with app.test_request_context():
        assert vendor.vendor_url("chart.umd.min.js") == "/vendor/chart.umd.min.js"
    with caplog.at_level(logging.WARNING, logger="wishes.vendor"):
        for _ in range(3):
            with client.get("/vendor/chart.umd.min.js") as response:
                assert response.status_code == 404
    warnings = [r for r in caplog.records if r.name == "wishes.vendor"]
    assert len(warnings) == 1
    assert "npm ci" in warnings[0].getMessage()


def test_a_template_naming_a_file_not_on_the_list_fails_loudly(app):
    with app.test_request_context(), pytest.raises(ValueError, match="chart.umd.js"):
        app.jinja_env.from_string("{{ vendor_url('chart.umd.js') }}").render()
