/* Energy AI Agents: a small canvas line-chart module shared by the live dashboard and the
 * batch HTML report, so that both read alike. No dependencies, no network, no inline script:
 * load it with <script src="charts.js"> (a classic script, so it also works from file://).
 *
 * EnergyCharts.renderPanels(root, data) draws the standard panels into the <canvas> elements
 * under `root` that carry data-chart="tokens|soc|prices|grid|p2p|burned|burn_rate"; `data` is
 *   { runs: [ { name, role: "strategy"|"baseline", step: [...], timestamp: [...],
 *               tokens_spent_ct: [...per step], price_day_ahead: [...], import_kwh: [...],
 *               export_kwh: [...], p2p_kwh: [...], burned_ct: [...],
 *               burn_rate_ct_per_kwh: [...], soc: { storage_A: [...], ... } } ] }
 * Per-step values; the tokens panel accumulates them. The first run with role "strategy" (or
 * the first run) is the one whose operation (SOC, prices, grid, P2P, burn) is shown.
 *
 * Each drawn canvas gets data-points (number of points drawn), data-series (JSON list of
 * {name, points, color, dash, width}), data-plot (the plot area "left,top,width,height" in CSS
 * pixels) and data-empty (the text shown when there is nothing to draw), so that tests and
 * people can check what a chart holds.
 *
 * Series that can lie on top of each other (storages at the same SOC) get their own dash
 * pattern and width (SERIES_STYLES): the first is a wide solid line, each later one narrower
 * and dashed, so the earlier line shows through the gaps. The legend draws the same strokes.
 */
(function (global) {
  "use strict";

  var PALETTE = ["#1f6fd1", "#e0741b", "#2a9d57", "#c03a4a", "#7a4fc4", "#8c6a3f", "#d4479b", "#3aa7b5"];
  var BASELINE_COLOR = "#7a7f87";
  var FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var SMALL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var DENSE = 1.5; // more points than this per pixel of width: drawn as band + mean
  var COLUMN_PX = 3;
  var LEGEND_SAMPLE_PX = 26;
  // {dash, width, dashOffset} of the 1st, 2nd, ... of series that may coincide
  var SERIES_STYLES = [
    { dash: null, width: 4 },
    { dash: [9, 6], width: 2.2, dashOffset: 0 },
    { dash: [2, 4], width: 2.2, dashOffset: 3 },
    { dash: [12, 3, 2, 3], width: 1.8, dashOffset: 6 },
  ];

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function niceStep(range, target) {
    if (!(range > 0)) return 1;
    var raw = range / Math.max(1, target);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
    return nice * mag;
  }

  function formatNumber(v) {
    var a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
    if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, "");
    return v.toPrecision(2).replace(/\.?0+$/, "");
  }

  function cumulative(values) {
    var out = new Array(values.length);
    var s = 0;
    for (var i = 0; i < values.length; i++) {
      if (isNum(values[i])) s += values[i];
      out[i] = s;
    }
    return out;
  }

  function shortTime(ts) {
    // "2024-01-01 13:00:00" or ISO -> "01-01 13:00"
    if (typeof ts !== "string" || ts.length < 16) return ts == null ? "" : String(ts);
    return ts.slice(5, 10) + " " + ts.slice(11, 16);
  }

  /* Draw a line chart.
   * opts: { series: [{name, x: [], y: [], color, dash: [..], step: bool, width}],
   *         xLabel: function(x) -> string, yLabel, yMin, yMax, zeroLine: bool, empty: string,
   *         band: {lower: i, upper: j} shades between series i and j (aligned by index) } */
  function line(canvas, opts) {
    var dpr = global.devicePixelRatio || 1;
    var cssW = canvas.clientWidth || canvas.width || 600;
    var cssH = canvas.clientHeight || canvas.height || 240;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);

    var series = (opts.series || []).filter(function (s) {
      return s && s.x && s.x.length;
    });
    var pad = { left: 56, right: 14, top: 26, bottom: 34 };
    var w = cssW - pad.left - pad.right;
    var h = cssH - pad.top - pad.bottom;

    var xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, points = 0;
    series.forEach(function (s) {
      for (var i = 0; i < s.x.length; i++) {
        var x = s.x[i], y = s.y[i];
        if (!isNum(x) || !isNum(y)) continue;
        if (x < xmin) xmin = x;
        if (x > xmax) xmax = x;
        if (y < ymin) ymin = y;
        if (y > ymax) ymax = y;
        points++;
      }
    });

    // frame, always: a chart with no data still says so
    ctx.font = FONT;
    ctx.strokeStyle = "#d5d9e0";
    ctx.lineWidth = 1;
    ctx.strokeRect(pad.left + 0.5, pad.top + 0.5, w, h);
    canvas.dataset.points = String(points);
    canvas.dataset.plot = [pad.left, pad.top, w, h].join(",");
    canvas.dataset.series = JSON.stringify(
      series.map(function (s, i) {
        return {
          name: s.name,
          points: s.x.length,
          color: s.color || PALETTE[i % PALETTE.length],
          dash: s.dash || null,
          width: s.width || 2,
        };
      })
    );
    var empty = opts.empty || "waiting for data";
    canvas.dataset.empty = points ? "" : empty;
    if (!points) {
      canvas._energyView = null;
      ctx.fillStyle = "#8a9099";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      var rows = wrapText(ctx, empty, w - 16);
      rows.forEach(function (row, k) {
        ctx.fillText(row, pad.left + w / 2, pad.top + h / 2 + 16 * (k - (rows.length - 1) / 2));
      });
      return { points: 0 };
    }

    if (isNum(opts.yMin)) ymin = Math.min(ymin, opts.yMin);
    if (isNum(opts.yMax)) ymax = Math.max(ymax, opts.yMax);
    if (opts.zeroLine !== false && ymin > 0 && ymin < 0.25 * ymax) ymin = 0;
    if (ymin === ymax) {
      var d = Math.abs(ymin) * 0.1 || 1;
      ymin -= d;
      ymax += d;
    }
    if (xmin === xmax) {
      xmin -= 1;
      xmax += 1;
    }
    var ystep = niceStep(ymax - ymin, Math.max(2, Math.floor(h / 40)));
    ymin = Math.floor(ymin / ystep) * ystep;
    ymax = Math.ceil(ymax / ystep) * ystep;

    function px(x) {
      return pad.left + ((x - xmin) / (xmax - xmin)) * w;
    }
    // a few pixels inside the frame: a line at the axis limits (SOC 0 or 1, export 0) stays
    // visible instead of merging into the frame
    var inset = Math.min(6, h / 10);
    function py(y) {
      return pad.top + h - inset - ((y - ymin) / (ymax - ymin)) * (h - 2 * inset);
    }

    // grid and y ticks
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.font = SMALL_FONT;
    for (var yv = ymin; yv <= ymax + ystep / 2; yv += ystep) {
      var yy = Math.round(py(yv)) + 0.5;
      ctx.strokeStyle = Math.abs(yv) < ystep / 1e6 ? "#9aa1ab" : "#eceff3";
      ctx.beginPath();
      ctx.moveTo(pad.left, yy);
      ctx.lineTo(pad.left + w, yy);
      ctx.stroke();
      ctx.fillStyle = "#5b6270";
      ctx.fillText(formatNumber(Math.abs(yv) < ystep / 1e6 ? 0 : yv), pad.left - 6, yy);
    }
    // x ticks
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    var xstep = Math.max(1, niceStep(xmax - xmin, Math.max(2, Math.floor(w / 110))));
    for (var xv = Math.ceil(xmin / xstep) * xstep; xv <= xmax; xv += xstep) {
      var xx = Math.round(px(xv)) + 0.5;
      ctx.strokeStyle = "#eceff3";
      ctx.beginPath();
      ctx.moveTo(xx, pad.top);
      ctx.lineTo(xx, pad.top + h);
      ctx.stroke();
      ctx.fillStyle = "#5b6270";
      var xt = opts.xLabel ? opts.xLabel(xv) : formatNumber(xv);
      var half = ctx.measureText(xt).width / 2;
      ctx.fillText(xt, Math.max(half + 1, Math.min(cssW - half - 1, xx)), pad.top + h + 6);
    }
    if (opts.yLabel) {
      ctx.save();
      ctx.translate(12, pad.top + h / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#5b6270";
      ctx.fillText(opts.yLabel, 0, 0);
      ctx.restore();
    }

    // series
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top, w, h);
    ctx.clip();
    if (opts.band && series[opts.band.lower] && series[opts.band.upper]) {
      // shade between two aligned series: green where `upper` is above `lower`, red below
      var lo = series[opts.band.lower], up = series[opts.band.upper];
      var n = Math.min(lo.x.length, up.x.length);
      for (var j = 0; j + 1 < n; j++) {
        var a0 = lo.y[j], a1 = lo.y[j + 1], b0 = up.y[j], b1 = up.y[j + 1];
        if (!isNum(a0) || !isNum(a1) || !isNum(b0) || !isNum(b1) || !isNum(lo.x[j]) || !isNum(lo.x[j + 1])) continue;
        ctx.fillStyle = b0 + b1 >= a0 + a1 ? "rgba(42,157,87,0.14)" : "rgba(192,58,74,0.14)";
        ctx.beginPath();
        ctx.moveTo(px(lo.x[j]), py(a0));
        ctx.lineTo(px(lo.x[j + 1]), py(a1));
        ctx.lineTo(px(lo.x[j + 1]), py(b1));
        ctx.lineTo(px(lo.x[j]), py(b0));
        ctx.closePath();
        ctx.fill();
      }
    }
    series.forEach(function (s, i) {
      var color = s.color || PALETTE[i % PALETTE.length];
      if (s.x.length > DENSE * w) {
        drawDense(ctx, s, color, px, py, pad.left, w);
        return;
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = s.width || 2;
      ctx.lineJoin = "round";
      ctx.setLineDash(s.dash || []);
      ctx.lineDashOffset = s.dashOffset || 0;
      ctx.beginPath();
      var started = false, lastY = null;
      for (var k = 0; k < s.x.length; k++) {
        var x = s.x[k], y = s.y[k];
        if (!isNum(x) || !isNum(y)) {
          started = false;
          continue;
        }
        var X = px(x), Y = py(y);
        if (!started) {
          ctx.moveTo(X, Y);
          started = true;
        } else {
          if (s.step && lastY !== null) ctx.lineTo(X, lastY);
          ctx.lineTo(X, Y);
        }
        lastY = Y;
        if (s.x.length === 1) ctx.arc(X, Y, 2, 0, 2 * Math.PI);
      }
      ctx.stroke();
    });
    ctx.restore();
    ctx.setLineDash([]);
    ctx.lineDashOffset = 0;

    // legend: each entry's sample is drawn with its series' stroke (colour, width, dash)
    ctx.font = SMALL_FONT;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    var lx = pad.left;
    series.forEach(function (s, i) {
      var color = s.color || PALETTE[i % PALETTE.length];
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.min(s.width || 2, 3.5);
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      ctx.moveTo(lx, 12);
      ctx.lineTo(lx + LEGEND_SAMPLE_PX, 12);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#2b303a";
      var label = String(s.name);
      ctx.fillText(label, lx + LEGEND_SAMPLE_PX + 5, 12);
      lx += LEGEND_SAMPLE_PX + 5 + ctx.measureText(label).width + 16;
    });

    var dense = series.some(function (s) {
      return s.x.length > DENSE * w;
    });
    if (dense) {
      ctx.textAlign = "right";
      ctx.fillStyle = "#8a9099";
      ctx.fillText("line: mean, band: min-max per " + COLUMN_PX + " px", pad.left + w, 12);
    }
    canvas.dataset.dense = dense ? "1" : "0";

    var view = { opts: opts, series: series, xmin: xmin, xmax: xmax, pad: pad, w: w, h: h, px: px, py: py };
    canvas._energyView = view;
    bindHover(canvas);
    if (canvas._energyHoverX != null) drawHover(canvas, ctx, view, canvas._energyHoverX);
    return { points: points };
  }

  /* `text` in lines no wider than `maxW` (at the context's font), broken at spaces. */
  function wrapText(ctx, text, maxW) {
    var words = String(text).split(" "), rows = [], row = "";
    words.forEach(function (word) {
      var next = row ? row + " " + word : word;
      if (row && ctx.measureText(next).width > maxW) {
        rows.push(row);
        row = word;
      } else row = next;
    });
    if (row) rows.push(row);
    return rows;
  }

  function withAlpha(hex, a) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) return hex;
    return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + a + ")";
  }

  /* A series with more points than the plot has pixels (a year of hours): per column of
   * COLUMN_PX pixels, the min-max range as a light band and the mean as the line, so that
   * peaks stay visible and the level is readable instead of a solid block of ink. */
  function drawDense(ctx, s, color, px, py, left, w) {
    var n = Math.ceil(w / COLUMN_PX) + 1;
    var lo = new Array(n), hi = new Array(n), sum = new Array(n), cnt = new Array(n);
    for (var c = 0; c < n; c++) {
      lo[c] = Infinity;
      hi[c] = -Infinity;
      sum[c] = 0;
      cnt[c] = 0;
    }
    for (var k = 0; k < s.x.length; k++) {
      var x = s.x[k], y = s.y[k];
      if (!isNum(x) || !isNum(y)) continue;
      var col = Math.max(0, Math.min(n - 1, Math.floor((px(x) - left) / COLUMN_PX)));
      if (y < lo[col]) lo[col] = y;
      if (y > hi[col]) hi[col] = y;
      sum[col] += y;
      cnt[col]++;
    }
    var cols = [];
    for (c = 0; c < n; c++) if (cnt[c]) cols.push(c);
    if (!cols.length) return;
    var X = function (col) {
      return left + (col + 0.5) * COLUMN_PX;
    };
    ctx.fillStyle = withAlpha(color, 0.28);
    ctx.beginPath();
    cols.forEach(function (col, j) {
      if (j === 0) ctx.moveTo(X(col), py(hi[col]));
      else ctx.lineTo(X(col), py(hi[col]));
    });
    for (var j = cols.length - 1; j >= 0; j--) ctx.lineTo(X(cols[j]), py(lo[cols[j]]));
    ctx.closePath();
    ctx.fill();
    ctx.strokeStyle = color;
    ctx.lineWidth = Math.min(s.width || 2, 1.8);
    ctx.lineJoin = "round";
    ctx.setLineDash(s.dash || []);
    ctx.lineDashOffset = s.dashOffset || 0;
    ctx.beginPath();
    cols.forEach(function (col, j) {
      var Y = py(sum[col] / cnt[col]);
      if (j === 0) ctx.moveTo(X(col), Y);
      else ctx.lineTo(X(col), Y);
    });
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineDashOffset = 0;
  }

  /* Index of the point of sorted `xs` nearest to x. */
  function nearest(xs, x) {
    var lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid;
      else hi = mid;
    }
    return Math.abs(xs[hi] - x) < Math.abs(xs[lo] - x) ? hi : lo;
  }

  /* Crosshair and a read-out of every series at the hovered x, drawn on the canvas itself. */
  function drawHover(canvas, ctx, v, cssX) {
    if (cssX < v.pad.left || cssX > v.pad.left + v.w || !v.series.length) return;
    var x = v.xmin + ((cssX - v.pad.left) / v.w) * (v.xmax - v.xmin);
    var lines = [], xAt = null;
    v.series.forEach(function (s, i) {
      if (!s.x.length) return;
      var k = nearest(s.x, x);
      if (xAt === null) xAt = s.x[k];
      var y = s.y[k];
      lines.push({ text: s.name + ": " + (isNum(y) ? formatNumber(y) : "-"), color: s.color || PALETTE[i % PALETTE.length] });
    });
    if (xAt === null) return;
    var X = Math.round(v.px(xAt)) + 0.5;
    ctx.strokeStyle = "rgba(43,48,58,0.45)";
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(X, v.pad.top);
    ctx.lineTo(X, v.pad.top + v.h);
    ctx.stroke();
    ctx.setLineDash([]);
    var title = v.opts.xLabel ? v.opts.xLabel(xAt) : formatNumber(xAt);
    ctx.font = SMALL_FONT;
    var width = ctx.measureText(title).width;
    lines.forEach(function (l) {
      width = Math.max(width, ctx.measureText(l.text).width + 14);
    });
    var boxW = width + 14, boxH = 18 + 15 * lines.length;
    var bx = X + 10 + boxW > v.pad.left + v.w ? X - 10 - boxW : X + 10;
    var by = v.pad.top + 6;
    ctx.fillStyle = "rgba(255,255,255,0.94)";
    ctx.strokeStyle = "#c9ced6";
    ctx.fillRect(bx, by, boxW, boxH);
    ctx.strokeRect(bx + 0.5, by + 0.5, boxW - 1, boxH - 1);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#2b303a";
    ctx.fillText(title, bx + 7, by + 10);
    lines.forEach(function (l, i) {
      var ly = by + 25 + 15 * i;
      ctx.fillStyle = l.color;
      ctx.fillRect(bx + 7, ly - 4, 8, 8);
      ctx.fillStyle = "#2b303a";
      ctx.fillText(l.text, bx + 21, ly);
    });
  }

  function bindHover(canvas) {
    if (canvas._energyHoverBound) return;
    canvas._energyHoverBound = true;
    var pending = false;
    function redraw() {
      pending = false;
      if (canvas._energyView) line(canvas, canvas._energyView.opts);
    }
    canvas.addEventListener("mousemove", function (e) {
      var r = canvas.getBoundingClientRect();
      canvas._energyHoverX = e.clientX - r.left;
      if (!pending) {
        pending = true;
        global.requestAnimationFrame(redraw);
      }
    });
    canvas.addEventListener("mouseleave", function () {
      canvas._energyHoverX = null;
      if (!pending) {
        pending = true;
        global.requestAnimationFrame(redraw);
      }
    });
  }

  function mainRun(data) {
    var runs = (data && data.runs) || [];
    for (var i = 0; i < runs.length; i++) if (runs[i].role !== "baseline") return runs[i];
    return runs[0] || null;
  }

  function xLabeller(run) {
    var steps = (run && run.step) || [];
    var ts = (run && run.timestamp) || [];
    var byStep = {};
    for (var i = 0; i < steps.length; i++) byStep[steps[i]] = ts[i];
    return function (x) {
      var t = byStep[Math.round(x)];
      return t ? shortTime(t) : "step " + formatNumber(x);
    };
  }

  /* The panels, as {key: function(run data) -> line() options}. */
  function panelSpecs(data) {
    var runs = (data && data.runs) || [];
    var main = mainRun(data);
    var xl = xLabeller(main);
    var col = function (name) {
      return (main && main[name]) || [];
    };
    var steps = (main && main.step) || [];
    var specs = {};
    var strategyIndex = 0;
    specs.tokens = {
      yLabel: "cumulative CT",
      xLabel: xl,
      series: runs
        .filter(function (r) {
          return r.tokens_spent_ct && r.tokens_spent_ct.length;
        })
        .map(function (r) {
          var isBase = r.role === "baseline";
          var color = isBase ? BASELINE_COLOR : PALETTE[strategyIndex++ % PALETTE.length];
          return {
            name: r.name,
            x: r.step,
            y: cumulative(r.tokens_spent_ct),
            color: color,
            dash: isBase ? [6, 4] : null,
            width: isBase ? 2 : 2.5,
          };
        }),
    };
    if (specs.tokens.series.length === 2 && runs.length === 2 && runs[1].role === "baseline") {
      specs.tokens.band = { lower: 0, upper: 1 }; // the saving: baseline above strategy
    }
    var soc = (main && main.soc) || {};
    specs.soc = {
      yLabel: "SOC [0-1]",
      xLabel: xl,
      yMin: 0,
      yMax: 1,
      series: Object.keys(soc)
        .sort()
        .map(function (name, i) {
          // storages often sit at the same SOC: a wide solid line, then narrower dashed ones
          var st = SERIES_STYLES[i % SERIES_STYLES.length];
          return {
            name: name,
            x: steps,
            y: soc[name],
            color: PALETTE[i % PALETTE.length],
            width: st.width,
            dash: st.dash,
            dashOffset: st.dashOffset,
          };
        }),
    };
    specs.prices = {
      yLabel: "CT/kWh",
      xLabel: xl,
      series: [
        { name: "day-ahead", x: steps, y: col("price_day_ahead"), step: true, color: PALETTE[0] },
        { name: "imbalance buy", x: steps, y: col("price_imbalance_buy"), step: true, color: PALETTE[3] },
        { name: "feed-in", x: steps, y: col("price_feed_in"), step: true, color: PALETTE[2] },
      ].filter(function (s) {
        return s.y.length;
      }),
    };
    specs.grid = {
      yLabel: "kWh per step",
      xLabel: xl,
      series: [
        { name: "import", x: steps, y: col("import_kwh"), color: PALETTE[3] },
        {
          name: "export (negative)",
          x: steps,
          y: col("export_kwh").map(function (v) {
            return isNum(v) ? -v : v;
          }),
          color: PALETTE[2],
        },
      ],
    };
    specs.p2p = {
      yLabel: "kWh per step",
      xLabel: xl,
      series: [{ name: "P2P traded", x: steps, y: col("p2p_kwh"), color: PALETTE[4] }],
    };
    specs.burned = {
      yLabel: "CT per step",
      xLabel: xl,
      series: [{ name: "CT burned", x: steps, y: col("burned_ct"), color: PALETTE[1] }],
    };
    specs.burn_rate = {
      yLabel: "CT/kWh",
      xLabel: xl,
      series: [
        { name: "burn rate applied", x: steps, y: col("burn_rate_ct_per_kwh"), step: true, color: PALETTE[5] },
      ],
    };
    return specs;
  }

  /* Saving so far of each strategy run against the baseline run: {name: {spent, baseline, saved}}. */
  function savings(data) {
    var runs = (data && data.runs) || [];
    var base = null;
    runs.forEach(function (r) {
      if (r.role === "baseline") base = r;
    });
    var out = {};
    runs.forEach(function (r) {
      if (r === base || !r.tokens_spent_ct || !r.tokens_spent_ct.length) return;
      var n = r.tokens_spent_ct.length;
      var spent = cumulative(r.tokens_spent_ct)[n - 1];
      var b = base ? cumulative(base.tokens_spent_ct.slice(0, n)) : [];
      var baseline = b.length ? b[b.length - 1] : null;
      out[r.name] = { spent: spent, baseline: baseline, saved: baseline == null ? null : baseline - spent };
    });
    return out;
  }

  /* "saved 12.2 CT (39.0%)" or "spent 0.4 CT (11.4%) more", from one entry of savings(). */
  function savingText(s) {
    if (!s || !isNum(s.saved)) return "";
    var pct = s.baseline ? " (" + ((100 * Math.abs(s.saved)) / Math.abs(s.baseline)).toFixed(1) + "%)" : "";
    var amount = formatNumber(Math.abs(s.saved)) + " CT" + pct;
    return s.saved >= 0 ? "saved " + amount : "spent " + amount + " more";
  }

  /* opts: {empty: text of a chart with nothing to draw} */
  function renderPanels(root, data, opts) {
    var specs = panelSpecs(data);
    var empty = opts && opts.empty;
    if (empty) Object.keys(specs).forEach(function (k) {
      specs[k].empty = empty;
    });
    var drawn = {};
    var canvases = root.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) {
      var c = canvases[i];
      var key = c.getAttribute("data-chart");
      if (specs[key]) drawn[key] = line(c, specs[key]).points;
    }
    return drawn;
  }

  global.EnergyCharts = {
    line: line,
    renderPanels: renderPanels,
    panelSpecs: panelSpecs,
    savings: savings,
    savingText: savingText,
    cumulative: cumulative,
    formatNumber: formatNumber,
    shortTime: shortTime,
    PALETTE: PALETTE,
    SERIES_STYLES: SERIES_STYLES,
    BASELINE_COLOR: BASELINE_COLOR,
  };
})(window);
