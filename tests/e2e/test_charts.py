"""The dashboard's charts read (issue 20, item 9): every department's bar has its label, and
a share in percent and NPS each have an axis of their own. Screenshots:
test-artifacts/e2e/<test>/."""

from __future__ import annotations

from .conftest import DESK, log_in

# What Chart.js drew for the chart of one table: its label ticks and its value axes.
DRAWN = """(tableId) => {
  const element = document.querySelector(`[data-for="${tableId}"] canvas`);
  const chart = element && window.Chart.getChart(element);
  if (!chart) return null;
  const axes = {};
  for (const [id, scale] of Object.entries(chart.scales)) {
    axes[id] = {min: scale.min, max: scale.max, labels: scale.ticks.map((t) => t.label)};
  }
  return {axes, datasets: chart.data.datasets.map((d) => [d.label, d.yAxisID || "y"])};
}"""


def test_every_department_has_its_label_and_nps_its_own_axis(browse, shot):
    desk = browse(DESK)
    page = desk.page
    log_in(page, "manager")
    page.goto("/dashboard?period=month")
    page.wait_for_function("() => document.querySelectorAll('.chart canvas').length > 2")
    rows = page.locator("#departments-table tbody tr").count()
    assert rows > 11  # the demo hospital: more departments than fit unlabelled
    departments = page.evaluate(DRAWN, "departments-table")
    assert len(departments["axes"]["y"]["labels"]) == rows  # none skipped
    shot(page, "dashboard-charts", full_page=True)

    trend = page.evaluate(DRAWN, "satisfaction_trend-table")
    assert (trend["axes"]["y"]["min"], trend["axes"]["y"]["max"]) == (0, 100)  # the share, %
    assert (trend["axes"]["y2"]["min"], trend["axes"]["y2"]["max"]) == (-100, 100)  # NPS
    assert dict(trend["datasets"]) == {"总体满意占比": "y", "NPS": "y2"}


def test_the_drivers_are_drawn_as_a_priority_matrix(browse, shot):
    """Issue 20, item 8: one point a rated question, satisfaction across, impact up."""
    desk = browse(DESK)
    page = desk.page
    log_in(page, "manager")
    page.goto("/dashboard?period=month")
    page.wait_for_function("() => document.querySelector('[data-for=\"drivers-table\"] canvas')")
    points = page.evaluate(
        """() => {
          const canvas = document.querySelector('[data-for="drivers-table"] canvas');
          return window.Chart.getChart(canvas).data.datasets[0].data.map((p) => p.label);
        }"""
    )
    shown = page.locator("#drivers-table tbody tr td:nth-of-type(4)").all_inner_texts()
    assert len(points) == sum(1 for text in shown if text.strip()) >= 5
    assert "优先改进" in page.locator("#drivers-table").inner_text()
    page.locator("#drivers-title").scroll_into_view_if_needed()
    shot(page, "priority-matrix")
