"""Every page of the app in a real browser: no console error, no failed request, and axe-core's
accessibility checks (no serious or critical violation, every control labelled, enough
contrast).

The pages come from the app's URL map (tests/e2e/pages.py), so a new page is crawled as soon
as it exists, and a GET route the crawl cannot fill fails `test_the_crawl_reaches_every_get_route`.
The crawl runs once for the module; each test below reads a different part of what it saw.
axe-core is the npm package (package.json), evaluated in the page through the DevTools
protocol, so the app's CSP stays as it is for the page itself. A screenshot of every page
and a JSON report of every finding (minor ones too) go to test-artifacts/e2e/pages/.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, replace

import pytest
from playwright.sync_api import Error as PlaywrightError

from wishes import create_app
from wishes.settings import PROJECT_ROOT

from .conftest import ARTIFACTS, COMMON, DESK, KIOSK, PHONE, Server, Watch, log_in, tiny_png
from .pages import ONLY_BEFORE_SETUP, VISITORS, Target, plan

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations", "incomplete"]});
  const brief = (item) => ({
    id: item.id, impact: item.impact, help: item.help,
    nodes: item.nodes.map((node) => ({target: node.target.join(" "), html: node.html.slice(0, 200),
                                      summary: node.failureSummary || ""})),
  });
  return {violations: results.violations.map(brief), incomplete: results.incomplete.map(brief)};
}"""
SERIOUS = {"serious", "critical"}
# axe's rules that a control without a name breaks.
LABEL_RULES = {
    "label",
    "select-name",
    "button-name",
    "input-button-name",
    "aria-input-field-name",
    "aria-toggle-field-name",
    "link-name",
    "image-alt",
    "svg-img-alt",
    "label-title-only",
}
CONTRAST_RULES = {"color-contrast"}
# Patient pages are also crawled in their other languages (Simplified Chinese is the default),
# from a browser that asks for that language.
OTHER_LANGUAGES = {"zh_Hant": "zh-TW", "en": "en-US"}


@dataclass
class Seen:
    label: str
    rule: str
    visitor: str
    status: int | None = None
    kind: str = "page"  # "page", or "file" (a download, a script, a picture)
    problems: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    incomplete: list[dict] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Crawl:
    seen: list[Seen]
    unfilled: list[str]
    unreached: list[str]
    rules: set[str]

    @property
    def pages(self) -> list[Seen]:
        return [s for s in self.seen if s.kind == "page"]


def _device(visitor: str, url: str) -> dict:
    if visitor != "anon":
        return DESK
    return KIOSK if url.startswith("/kiosk") else PHONE


@pytest.fixture(scope="module")
def crawl(browser, server: Server, tmp_path_factory) -> Crawl:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (./scripts/test does)")
    axe_source = AXE.read_text(encoding="utf-8")
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    scratch = tmp_path_factory.mktemp("e2e-url-map")
    app = create_app(
        {"WISHES_DATA_DIR": str(scratch / "data"), "WISHES_MODELS_DIR": str(scratch / "models")}
    )

    tabs: dict[tuple[str, str, str], tuple] = {}

    def tab(visitor: str, device: dict, locale: str = COMMON["locale"]):
        key = (visitor, repr(device), locale)
        if key not in tabs:
            context = browser.new_context(
                base_url=server.base_url, **device, **{**COMMON, "locale": locale}
            )
            context.set_default_timeout(15_000)
            # The crawl checks each page as it stands when it opens. The kiosk's idle reset
            # (6 s here) and the corridor screen's reloads would navigate away in the middle
            # of a slow check, or of the next visit; the journeys test them.
            context.add_init_script("window.setInterval = function () { return 0; };")
            watch = Watch()
            watch.attach(context)
            page = context.new_page()
            if visitor != "anon":
                log_in(page, visitor)
            watch.take()
            tabs[key] = (context, page, watch)
        return tabs[key]

    _ensure_a_photo(tab("member", DESK)[1], server)
    _ensure_evidence(tab("secretary", DESK)[1], server)
    _ensure_a_round_in_inspection(tab("triager", DESK)[1], server)
    planned = plan(app, server)
    seen: list[Seen] = []
    unreached: list[str] = []
    try:
        for number, target in enumerate(planned.targets, 1):
            visitor, content_type = _who_may_see(target, tab, server)
            if visitor is None:
                unreached.append(
                    f"{target.rule or target.url} {target.label}: no visitor gets "
                    f"{target.expect} (tried {', '.join(VISITORS)})"
                )
                continue
            if not content_type.startswith("text/html"):
                # A download, a script, a picture: fetched, not shown; its answer is what counts.
                seen.append(Seen(target.label, target.rule, visitor, 200, "file"))
                continue
            variants = [(target, visitor, COMMON["locale"])]
            if visitor == "anon" and not target.recipe:  # a patient's page, in every language
                variants += [
                    (_in_language(target, code), f"anon ({code})", locale)
                    for code, locale in OTHER_LANGUAGES.items()
                ]
            for shown, label, locale in variants:
                _context, page, watch = tab(visitor, _device(visitor, target.url), locale)
                started = time.monotonic()
                seen.append(_visit(shown, label, page, watch, server, axe_source, folder, number))
                seen[-1].seconds = round(time.monotonic() - started, 2)
    finally:
        for context, _page, _watch in tabs.values():
            context.close()
    (folder / "report.json").write_text(
        json.dumps([asdict(s) for s in seen], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    rules = {rule.rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}
    return Crawl(seen, planned.unfilled, unreached, rules)


def _in_language(target: Target, code: str) -> Target:
    joiner = "&" if "?" in target.url else "?"
    return replace(target, url=f"{target.url}{joiner}lang={code}")


def _ensure_a_photo(page, server: Server) -> None:
    """The staff photo of a fulfilled wish is a page of its own: make sure one exists."""
    if server.rows("SELECT 1 FROM wishes WHERE fulfilment_photo IS NOT NULL"):
        return
    wish = server.rows(
        "SELECT min(id) AS id FROM wishes WHERE state = 'claimed' AND branch_code = 'pediatrics'"
    )[0]["id"]
    page.goto(f"/board/wishes/{wish}")
    fulfil = page.locator("#action-fulfil")
    fulfil.locator("textarea").fill("已送到病房")
    fulfil.locator("input[type=file]").set_input_files(
        {"name": "done.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    fulfil.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/board/wishes/{wish}"))


def _ensure_evidence(page, server: Server) -> None:
    """An assessment's evidence file is a page of its own: the secretary uploads one."""
    if server.rows("SELECT 1 FROM assessment_attachments"):
        return
    rounds = server.rows("SELECT id FROM assessment_rounds WHERE stage = 'self' ORDER BY id")
    assert rounds, "the demo has no round in self-assessment to upload evidence to"
    page.goto(f"/assessment/rounds/{rounds[0]['id']}/branches/pediatrics")
    upload = page.locator("form.upload-form").first
    upload.locator("input[type=file]").set_input_files(
        {"name": "evidence.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    upload.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert server.rows("SELECT 1 FROM assessment_attachments"), "the evidence was not stored"


def _ensure_a_round_in_inspection(page, server: Server) -> None:
    """The demo's rounds are published or in self-assessment: the office opens one more and
    hands it to the inspectors, so the inspector's scoring sheet is crawled too."""
    if server.rows("SELECT 1 FROM assessment_rounds WHERE stage = 'inspection'"):
        return
    page.goto("/assessment/rounds/new")
    page.locator("#name").fill("2027 Q1")
    page.locator("#first_day").fill("2027-01-01")
    page.locator("#last_day").fill("2027-03-31")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/assessment/rounds/\d+$"))
    page.get_by_role("button", name="结束自评，交考评组评分").click()
    page.wait_for_load_state("load")
    assert server.rows("SELECT 1 FROM assessment_rounds WHERE stage = 'inspection'"), (
        "the new round did not reach inspection"
    )


def _who_may_see(target: Target, tab, server: Server) -> tuple[str | None, str]:
    """The first visitor the URL answers 200 to (the target's own visitor first), and the
    type of what it answered."""
    if target.recipe or target.expect != 200:
        return target.visitor, "text/html"
    order = [target.visitor] if target.visitor else []
    order += [v for v in VISITORS if v not in order]
    for visitor in order:
        context = tab(visitor, _device(visitor, target.url))[0]
        response = context.request.get(server.url(target.url), max_redirects=0)
        status, content_type = response.status, response.headers.get("content-type", "")
        response.dispose()
        if status == 200:
            return visitor, content_type
    return None, ""


def _visit(
    target: Target,
    visitor: str,
    page,
    watch: Watch,
    server: Server,
    axe_source: str,
    folder,
    number: int,
) -> Seen:
    seen = Seen(target.label, target.rule or "(error page)", visitor)
    if target.expect != 200:
        watch.allow(target.expect, server.url(target.url))
    watch.take()
    response = page.goto(target.url)
    if target.recipe:
        target.recipe(page)
        page.wait_for_load_state("load")
        seen.status = page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].responseStatus"
        )
    else:
        seen.status = response.status if response else None
    try:
        page.evaluate(axe_source)
        found = page.evaluate(AXE_RUN)
    except PlaywrightError as error:  # the page went away under axe (a kiosk reset)
        seen.problems.append(f"axe could not finish: {error.message.splitlines()[0]}")
        found = {"violations": [], "incomplete": []}
    seen.violations, seen.incomplete = found["violations"], found["incomplete"]
    seen.problems += watch.take()
    name = re.sub(r"[^\w.-]+", "_", f"{number:03d}-{visitor}-{target.url}-{target.note}")[:120]
    page.screenshot(path=folder / f"{name}.png")
    return seen


def _listing(found: list[str]) -> str:
    return "\n".join(f"  {line}" for line in found)


# ---- the tests ----------------------------------------------------------------------------


def test_the_crawl_reaches_every_get_route(crawl: Crawl):
    assert crawl.unfilled == [], (
        "GET routes the crawl cannot fill (add a sample in tests/e2e/pages.py):\n"
        + _listing(crawl.unfilled)
    )
    assert crawl.unreached == [], "URLs no visitor may see:\n" + _listing(crawl.unreached)
    reached = {s.rule for s in crawl.seen if s.status == 200}
    api = {rule for rule in crawl.rules if rule.startswith("/api/")}  # tests/test_api*.py
    never = crawl.rules - reached - ONLY_BEFORE_SETUP - api
    assert never == set(), f"GET routes never answered 200: {never}"
    assert len(crawl.pages) >= 40


def test_every_page_answers_as_expected_without_console_errors_or_failed_requests(crawl: Crawl):
    wrong = [
        f"{s.label} as {s.visitor}: {s.status}"
        for s in crawl.seen
        if s.status not in (200, 400, 404)
    ]
    assert wrong == [], "unexpected answers:\n" + _listing(wrong)
    complaints = [
        f"{s.label} as {s.visitor}: {problem}" for s in crawl.seen for problem in s.problems
    ]
    assert complaints == [], "the browser complained:\n" + _listing(complaints)


def _violations(crawl: Crawl, keep) -> list[str]:
    return [
        f"{s.label} as {s.visitor}: [{v['impact']}] {v['id']} ({v['help']}): "
        + "; ".join(node["target"] for node in v["nodes"][:5])
        for s in crawl.pages
        for v in s.violations
        if keep(v)
    ]


def test_no_page_has_a_serious_or_critical_accessibility_violation(crawl: Crawl):
    found = _violations(crawl, lambda v: v["impact"] in SERIOUS)
    assert found == [], "axe-core found:\n" + _listing(found)


def test_every_control_on_every_page_has_a_label(crawl: Crawl):
    found = _violations(crawl, lambda v: v["id"] in LABEL_RULES)
    assert found == [], "controls without a name:\n" + _listing(found)


def test_text_on_every_page_has_enough_contrast(crawl: Crawl):
    found = _violations(crawl, lambda v: v["id"] in CONTRAST_RULES)
    assert found == [], "text below WCAG AA contrast:\n" + _listing(found)


def test_the_watch_hears_what_a_browser_complains_about(browse):
    """The checks above can fail: a blocked inline script, a missing file, a script error."""
    tab = browse(DESK)
    tab.page.goto("/login")
    assert tab.watch.take() == []
    tab.page.evaluate("""() => {
        const inline = document.createElement("script");
        inline.textContent = "window.ran = true";  // the app's CSP refuses inline scripts
        document.body.append(inline);
        const missing = document.createElement("img");
        missing.src = "/static/no-such-picture.png";
        document.body.append(missing);
        setTimeout(() => { throw new Error("a script error"); });
    }""")
    tab.page.wait_for_timeout(500)
    heard = "\n".join(tab.watch.take())
    assert "Content Security Policy" in heard
    assert "404 GET" in heard and "no-such-picture.png" in heard
    assert "a script error" in heard
