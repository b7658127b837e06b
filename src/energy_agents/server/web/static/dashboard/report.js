/* Energy AI Agents: the batch report's charts (the dashboard's charts, drawn from the per-step
 * series that `energy-agents simulate` / `compare` write next to report.html).
 *
 * Data: window.ENERGY_REPORT_SERIES, set by series.js (a plain script file, so that the report
 * opened from disk works: browsers refuse fetch() on file:// pages), else series.json fetched
 * from the same folder (a report served over HTTP). Progressive: the charts section is hidden
 * until drawn, and the matplotlib PNGs stay visible when scripts or data are missing.
 */
(function () {
  "use strict";

  function draw(data) {
    var section = document.getElementById("report-charts");
    if (!section || !data || !data.runs || !data.runs.length) return;
    section.hidden = false;
    var drawn = EnergyCharts.renderPanels(section, data);
    // hide panels the data has nothing for (e.g. SOC of a community without storage)
    var figs = section.querySelectorAll("figure[data-panel]");
    for (var i = 0; i < figs.length; i++) {
      var key = figs[i].getAttribute("data-panel");
      if (!drawn[key]) figs[i].hidden = true;
    }
    var note = document.getElementById("report-saving");
    var sv = EnergyCharts.savings(data);
    var parts = Object.keys(sv)
      .filter(function (n) {
        return sv[n].saved !== null;
      })
      .map(function (n) {
        return n + " " + EnergyCharts.savingText(sv[n]);
      });
    if (note) note.textContent = parts.length ? "vs the no-control baseline: " + parts.join("; ") : "";
    var fallback = document.getElementById("png-plots");
    if (fallback) fallback.open = false;
    section.setAttribute("data-drawn", "1");
  }

  var redraw = null;
  function start() {
    if (window.ENERGY_REPORT_SERIES) {
      redraw = function () {
        draw(window.ENERGY_REPORT_SERIES);
      };
      redraw();
    } else if (location.protocol !== "file:") {
      fetch("series.json", { cache: "no-store" })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (d) {
          if (!d) return;
          redraw = function () {
            draw(d);
          };
          redraw();
        })
        .catch(function () {
          /* the PNG plots remain */
        });
    }
  }

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (redraw) redraw();
    }, 150);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
