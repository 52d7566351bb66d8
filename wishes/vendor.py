"""Front-end libraries installed by npm (package.json), served by the app itself.

The hospital intranet has no internet, so a page cannot load a library from a CDN. Only the
files named in `FILES` are served: the URL names an entry of that table, never a path, so no
other file of node_modules (or of the disk) can be reached. Without node_modules the pages
still work: the chart script draws nothing and the tables stay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from flask import Flask, abort, send_file, url_for

from .audiences import AreaBlueprint, Audience
from .settings import PROJECT_ROOT

log = logging.getLogger(__name__)

NODE_MODULES = PROJECT_ROOT / "node_modules"

# URLs carry the package's version (`vendor_url`), so a new version is a new URL and browsers
# may keep a file for a long time without asking again.
MAX_AGE_SECONDS = 365 * 24 * 60 * 60


@dataclass(frozen=True)
class VendorFile:
    package: str  # the npm package, as named in package.json
    path: str  # the file inside that package
    mimetype: str = "text/javascript"


FILES: Mapping[str, VendorFile] = MappingProxyType(
    {
        # The UMD build defines window.Chart for static/js/charts.js; no eval, so CSP-safe.
        "chart.umd.min.js": VendorFile("chart.js", "dist/chart.umd.min.js"),
    }
)

bp = AreaBlueprint("vendor", __name__, audience=Audience.SERVICE, url_prefix="/vendor")

_warned_missing: set[Path] = set()
_versions: dict[Path, str] = {}


def _package_dir(package: str) -> Path:
    # Read at call time, not import time, so a test can point it at an empty folder.
    return NODE_MODULES / package


def installed_version(package: str) -> str | None:
    """The version of an installed npm package, or None when it is not installed."""
    manifest = _package_dir(package) / "package.json"
    if manifest not in _versions:
        try:
            _versions[manifest] = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, KeyError):
            return None  # not cached: `npm ci` may still run while the app is up
    return _versions[manifest]


@bp.get("/<name>")
def asset(name: str):
    """One allow-listed file; 404 for any other name or when npm has not installed it."""
    entry = FILES.get(name)
    if entry is None:
        abort(404)
    path = _package_dir(entry.package) / entry.path
    if not path.is_file():
        if path not in _warned_missing:
            # Once per process: every staff page asks for it, and one line says it all.
            _warned_missing.add(path)
            log.warning("front-end file %s is missing; run `npm ci` (pages show tables)", path)
        abort(404)
    return send_file(path, mimetype=entry.mimetype, max_age=MAX_AGE_SECONDS)


def vendor_url(name: str) -> str:
    """URL of an allow-listed file, with its package version so caches renew on upgrades.

    An unknown name raises, so a typo in a template fails its test instead of a silent 404.
    """
    entry = FILES.get(name)
    if entry is None:
        raise ValueError(f"{name!r} is not a served front-end file (see wishes.vendor.FILES)")
    version = installed_version(entry.package)
    if version is None:
        return url_for("vendor.asset", name=name)
    return url_for("vendor.asset", name=name, v=version)


def init_app(app: Flask) -> None:
    """Serve the files at /vendor and give templates `vendor_url(name)` for their <script> tags."""
    app.register_blueprint(bp)
    app.add_template_global(vendor_url, "vendor_url")
