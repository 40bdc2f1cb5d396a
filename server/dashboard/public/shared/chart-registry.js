/**
 * The charts on the page, apart from ECharts itself: platform.js disposes of the charts of the
 * part of the page it replaces without loading the 1 MB chart library (charts.js registers
 * every chart it draws here). Lifecycle: a chart is tracked from `trackChart` until
 * `disposeCharts` disposes of it or finds it disposed.
 */

/** @type {Set<{ isDisposed(): boolean, dispose(): void, getDom(): HTMLElement, resize(): void }>} */
const charts = new Set();
let resizeHooked = false;

/** Tracks a chart, and resizes every tracked chart with the window. */
export function trackChart(chart) {
  charts.add(chart);
  if (!resizeHooked) {
    resizeHooked = true;
    window.addEventListener('resize', () => {
      for (const c of charts) if (!c.isDisposed()) c.resize();
    });
  }
}

/** Disposes the charts inside a part of the page that is being replaced. */
export function disposeCharts(root) {
  for (const c of [...charts]) {
    if (c.isDisposed() || root.contains(c.getDom())) {
      if (!c.isDisposed()) c.dispose();
      charts.delete(c);
    }
  }
}
