// Charts drawn from the tables on the page: the table is the source and stays the accessible,
// printable version, so without Chart.js (/vendor/chart.umd.min.js) the page simply shows tables.
// No inline script and no eval (CSP default-src 'self').
//
//   <div class="chart" data-chart="line|bar|hbar|radar" data-for="TABLE_ID" data-series="0,2"
//        data-label="…" data-y-min="0" data-y-max="100" data-percent data-stacked
//        data-y2-series="2" data-y2-min="-100" data-y2-max="100"></div>
//   <table id="TABLE_ID"><caption>…</caption>
//     <thead><tr><th>…</th><th>series 0</th><th>series 1</th></tr></thead>
//     <tbody><tr><th scope="row">label</th><td data-value="12">12</td><td data-value="">–</td>
//
// Row labels are the tbody rows' <th scope="row">; a series is a td column (0-based), named by
// the thead th one to its right (the first th heads the row labels). data-value is the number;
// an empty or missing one is a gap. data-y-min/-max bound the value axis (x for hbar, r for radar).
// data-y2-series puts those columns on a second value axis of their own (right; data-y2-min/-max),
// so a share in percent and a score such as NPS never share one scale; data-percent is the first
// axis's. Every row's label is shown: a bar chart grows a row's height per label, never skips one.
(function () {
  "use strict";

  // Deep Party red first, then colours that stay apart for colour-blind readers; each has at
  // least 5:1 contrast on white. Lines also differ by point shape and dash, not by colour alone.
  const PALETTE = [
    "#b3261e", "#1f5fae", "#2e7d32", "#a15c00", "#6a3d9a", "#00727a", "#5f6368", "#805040",
  ];
  const POINT_STYLES = [
    "circle", "rect", "triangle", "rectRot", "crossRot", "star", "rectRounded", "cross",
  ];
  const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
  // About the width of an A4 portrait page at 96 px per inch, less the margins.
  const PRINT_WIDTH = 680;

  const charts = [];

  function text(element) {
    return element ? element.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function cellValue(cell) {
    const value = cell ? parseFloat(cell.dataset.value) : NaN;
    return Number.isFinite(value) ? value : null; // null: Chart.js leaves a gap
  }

  function flag(element, name) {
    const value = element.getAttribute(name);
    return value !== null && value !== "false";
  }

  function number(element, name) {
    const value = parseFloat(element.getAttribute(name));
    return Number.isFinite(value) ? value : undefined;
  }

  function readTable(table, seriesAttribute) {
    const rows = [];
    for (const body of table.tBodies) rows.push(...body.rows);
    const cells = rows.map((row) => row.querySelectorAll(":scope > td"));
    const width = Math.max(0, ...cells.map((tds) => tds.length));
    const columns = seriesAttribute
      ? seriesAttribute.split(",").map((index) => parseInt(index, 10))
          .filter((index) => index >= 0 && index < width)
      : Array.from({ length: width }, (_, index) => index);
    const headRow = table.tHead ? table.tHead.rows[table.tHead.rows.length - 1] : null;
    const heads = headRow ? headRow.querySelectorAll(":scope > th, :scope > td") : [];
    return {
      labels: rows.map((row) => text(row.querySelector(':scope > th[scope="row"]'))),
      series: columns.map((column) => ({
        column: column,
        name: text(heads[column + 1]),
        values: cells.map((tds) => cellValue(tds[column])),
      })),
    };
  }

  function secondAxisColumns(element) {
    const listed = element.getAttribute("data-y2-series");
    return listed ? listed.split(",").map((index) => parseInt(index, 10)) : [];
  }

  function dataset(kind, series, index, second) {
    const colour = PALETTE[index % PALETTE.length];
    const common = { label: series.name, data: series.values, borderColor: colour };
    if (second.includes(series.column)) common.yAxisID = "y2";
    if (kind === "bar" || kind === "hbar") {
      return { ...common, backgroundColor: colour };
    }
    return {
      ...common,
      backgroundColor: kind === "radar" ? colour + "26" : colour, // radar: a light fill
      fill: kind === "radar",
      borderWidth: 2,
      borderDash: DASHES[index % DASHES.length],
      pointStyle: POINT_STYLES[index % POINT_STYLES.length],
      pointRadius: 4,
      spanGaps: false,
    };
  }

  function percentLabel(item) {
    const unit = item.dataset.yAxisID === "y2" ? "" : "%"; // the second axis is not a share
    return item.dataset.label + ": " + item.formattedValue + unit;
  }

  function options(element, kind, animate, seriesCount) {
    const percent = flag(element, "data-percent");
    const stacked = flag(element, "data-stacked") && kind !== "radar";
    const tick = percent
      ? function (value, index, ticks) {
          return window.Chart.Ticks.formatters.numeric.call(this, value, index, ticks) + "%";
        }
      : undefined;
    const valueAxis = {
      min: number(element, "data-y-min"),
      max: number(element, "data-y-max"),
      stacked: stacked,
      beginAtZero: kind !== "line",
      ticks: tick ? { callback: tick } : {},
    };
    // Every label, however many rows (the bar chart's height grows with them: draw()).
    const categoryAxis = { stacked: stacked, ticks: { autoSkip: false } };
    const lines = kind === "line" || kind === "radar";
    let scales;
    if (kind === "radar") scales = { r: valueAxis };
    else if (kind === "hbar") scales = { x: valueAxis, y: categoryAxis };
    else scales = { x: categoryAxis, y: valueAxis };
    if (secondAxisColumns(element).length && kind !== "radar" && kind !== "hbar") {
      scales.y2 = {
        position: "right",
        min: number(element, "data-y2-min"),
        max: number(element, "data-y2-max"),
        grid: { drawOnChartArea: false }, // one grid: the first axis's
        title: { display: true, text: element.getAttribute("data-y2-label") || "" },
      };
    }
    return {
      responsive: true,
      maintainAspectRatio: false, // the container (.chart) decides the height
      animation: animate ? undefined : false,
      indexAxis: kind === "hbar" ? "y" : "x",
      locale: document.documentElement.lang || undefined,
      interaction: { mode: kind === "radar" ? "nearest" : "index", intersect: false },
      scales: scales,
      plugins: {
        // Lines and radar show each series' point shape in the legend, not only its colour.
        legend: { display: seriesCount > 1, labels: { usePointStyle: lines } },
        tooltip: percent ? { callbacks: { label: (item) => percentLabel(item) } } : {},
      },
    };
  }

  function draw(element, animate) {
    const kind = element.dataset.chart;
    if (!["line", "bar", "hbar", "radar"].includes(kind) || element.querySelector("canvas")) return;
    const table = document.getElementById(element.dataset.for || "");
    if (!table || table.tagName !== "TABLE") {
      console.warn("data-chart: no table with id", element.dataset.for);
      return;
    }
    const data = readTable(table, element.dataset.series);
    if (!data.series.length || !data.labels.length) return;

    // A horizontal bar chart gets room for every row's label (28 px a row, a 240 px least).
    if (kind === "hbar") element.style.height = Math.max(240, 28 * data.labels.length + 60) + "px";
    const second = secondAxisColumns(element);
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", element.dataset.label || text(table.caption));
    // Chart.js sizes the canvas from its parent, which must be positioned (CSSOM: CSP allows it).
    if (getComputedStyle(element).position === "static") element.style.position = "relative";
    element.appendChild(canvas);
    charts.push(
      new window.Chart(canvas, {
        type: kind === "hbar" ? "bar" : kind,
        data: {
          labels: data.labels,
          datasets: data.series.map((series, index) => dataset(kind, series, index, second)),
        },
        options: options(element, kind, animate, data.series.length),
      }),
    );
  }

  // The canvas is sized for the screen and the browser lays out the printed page only after
  // `beforeprint`, when no more script runs: Chart.js's own resize observer comes too late. So
  // each chart is redrawn now at a printable width and a sharper pixel ratio, without animation,
  // and may only shrink (never overflow) in whatever the print layout turns out to be.
  let printing = false;

  function beforePrint() {
    if (printing) return;
    printing = true;
    for (const chart of charts) {
      const container = chart.canvas.parentNode;
      const style = getComputedStyle(container);
      const padding = (a, b) => parseFloat(style[a]) + parseFloat(style[b]);
      const width = container.clientWidth - padding("paddingLeft", "paddingRight");
      const height = container.clientHeight - padding("paddingTop", "paddingBottom");
      chart.options.animation = false;
      chart.options.devicePixelRatio = Math.max(2, window.devicePixelRatio || 1);
      chart.resize(Math.min(width, PRINT_WIDTH), height);
      chart.canvas.style.maxWidth = "100%";
      chart.canvas.style.height = "auto";
    }
  }

  function afterPrint() {
    if (!printing) return;
    printing = false;
    for (const chart of charts) {
      chart.options.devicePixelRatio = undefined;
      chart.canvas.style.maxWidth = "";
      chart.resize();
    }
  }

  function start() {
    if (typeof window.Chart !== "function") return; // no library: the tables are the page
    const quiet = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const print = window.matchMedia("print");
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    for (const element of document.querySelectorAll("[data-chart]")) {
      try {
        draw(element, !quiet && !print.matches);
      } catch (error) {
        console.error("data-chart:", error); // one broken chart must not stop the others
      }
    }
    if (!charts.length) return;
    window.addEventListener("beforeprint", beforePrint);
    window.addEventListener("afterprint", afterPrint);
    print.addEventListener("change", (event) => (event.matches ? beforePrint() : afterPrint()));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
