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
// data-chart="scatter" with data-x="2" data-y="1": one point a row at those two columns, named by
// its row label, with dashed lines at the medians (the priority matrix's quadrants).
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

  function median(values) {
    const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
    if (!sorted.length) return null;
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  // Dashed lines at the medians of x and y: the four quadrants of a priority matrix.
  const medianLines = {
    id: "medianLines",
    afterDatasetsDraw(chart, _args, marks) {
      if (!marks || marks.x === null || marks.y === null) return;
      const { ctx, chartArea, scales } = chart;
      const x = scales.x.getPixelForValue(marks.x);
      const y = scales.y.getPixelForValue(marks.y);
      ctx.save();
      ctx.strokeStyle = "#5f6368";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.moveTo(chartArea.left, y);
      ctx.lineTo(chartArea.right, y);
      ctx.stroke();
      // Each point named beside it: a matrix is read by what sits in which corner.
      ctx.setLineDash([]);
      ctx.fillStyle = "#202124";
      ctx.font = "12px " + getComputedStyle(document.body).fontFamily;
      const points = chart.data.datasets[0].data;
      chart.getDatasetMeta(0).data.forEach((point, index) => {
        const label = points[index].label;
        const right = point.x + ctx.measureText(label).width + 10 > chartArea.right;
        ctx.textAlign = right ? "right" : "left";
        ctx.fillText(label, point.x + (right ? -9 : 9), point.y - 8);
      });
      ctx.restore();
    },
  };

  function scatter(element, table, animate) {
    const x = parseInt(element.dataset.x, 10);
    const y = parseInt(element.dataset.y, 10);
    const data = readTable(table, `${x},${y}`);
    const points = data.labels
      .map((label, index) => ({ label, x: data.series[0].values[index], y: data.series[1].values[index] }))
      .filter((point) => point.x !== null && point.y !== null);
    if (!points.length || data.series.length < 2) return null;
    const colour = PALETTE[0];
    return {
      type: "scatter",
      data: { datasets: [{ label: element.dataset.label || "", data: points, backgroundColor: colour, borderColor: colour, pointRadius: 6 }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: animate ? undefined : false,
        scales: {
          x: { title: { display: true, text: data.series[0].name } },
          y: { title: { display: true, text: data.series[1].name } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${item.raw.label}: ${item.raw.x}, ${item.raw.y}` } },
          medianLines: { x: median(points.map((p) => p.x)), y: median(points.map((p) => p.y)) },
        },
      },
      plugins: [medianLines],
    };
  }

  function draw(element, animate) {
    const kind = element.dataset.chart;
    const kinds = ["line", "bar", "hbar", "radar", "scatter"];
    if (!kinds.includes(kind) || element.querySelector("canvas")) return;
    const table = document.getElementById(element.dataset.for || "");
    if (!table || table.tagName !== "TABLE") {
      console.warn("data-chart: no table with id", element.dataset.for);
      return;
    }
    const config = kind === "scatter" ? scatter(element, table, animate) : null;
    const data = readTable(table, element.dataset.series);
    if (kind === "scatter" ? !config : !data.series.length || !data.labels.length) return;

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
      new window.Chart(
        canvas,
        config || {
          type: kind === "hbar" ? "bar" : kind,
          data: {
            labels: data.labels,
            datasets: data.series.map((series, index) => dataset(kind, series, index, second)),
          },
          options: options(element, kind, animate, data.series.length),
        },
      ),
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
