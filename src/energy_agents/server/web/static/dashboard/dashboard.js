/* Energy AI Agents: the live dashboard. Polls the AI Manager's JSON endpoints (same origin) once
 * a second and renders everything with textContent: agent messages are untrusted text and are
 * never parsed as HTML. Requires charts.js (EnergyCharts). No inline script anywhere: the page
 * is served with a Content-Security-Policy that forbids it.
 *
 * Data sources (see docs/dashboard.md), all read-only:
 *   GET /messages?order=desc&limit=N     first load: the newest messages
 *   GET /messages?cursor=ID&limit=N      then: the messages after the newest one held (by id)
 *   GET /series?since_step=N             per-step records the live runner publishes (charts)
 *   GET /decisions?strategy=S&limit=N    the decision history (timeline, current decision)
 *   GET /kpis                            the KPI table
 *   GET /aggregate                       only while no runner publishes (the seed's way of use:
 *                                        it decides over the recent window). With a runner it is
 *                                        never called: it would decide (and store) the running
 *                                        step again, and the applied decisions are in /decisions.
 */
(function () {
  "use strict";

  var POLL_MS = 1000; // one polling round (every request below) per second
  var FEED_ROWS = 300; // rows kept in the feed (and messages read on first load)
  var MSG_PAGE = 1000; // the server's largest page
  var SERIES_PAGE = 5000;
  var TIMELINE_ROWS = 200;
  var HEALTHY_S = 15; // last message younger than this: healthy
  var LATE_S = 60; // younger than this: late; older (or never): silent

  function meta(name, fallback) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : fallback;
  }
  function metaJson(name, fallback) {
    try {
      return JSON.parse(meta(name, "")) || fallback;
    } catch (e) {
      return fallback;
    }
  }

  var API = (meta("energy-api-base", "") || "").replace(/\/+$/, "");
  var KNOWN_AGENTS = metaJson("energy-agents", []);
  var KPI_LABELS = metaJson("energy-kpi-labels", []);
  var TOKEN = (function () {
    var m = /(?:^|[#&])token=([^&]+)/.exec(location.hash || "");
    return m ? decodeURIComponent(m[1]) : null;
  })();
  // The community shown (?community=NAME; none: the server's default), sent with every read.
  var COMMUNITY = new URLSearchParams(location.search).get("community") || null;

  var state = {
    messages: [], // newest last
    seen: new Set(),
    maxId: null, // id of the newest message held: the cursor of the next poll
    agents: {}, // name -> {last: ms, recent: [ms...], lastStep, count}
    records: new Map(), // step -> record
    maxStep: -1,
    chartsDirty: true,
    decisions: [], // newest TIMELINE_ROWS decisions of a step (and recent-window ones), by step
    decisionsLoaded: false,
    decisionStrategy: undefined,
    aggregate: null,
    kpis: null,
    clockSkewMs: 0,
    hint: "",
    shown: -1,
    polls: 0,
  };

  function $(id) {
    return document.getElementById(id);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }
  function now() {
    return Date.now() + state.clockSkewMs;
  }

  function parseTime(v) {
    if (isNum(v)) return v > 1e12 ? v : v * 1000;
    if (typeof v !== "string" || !v) return null;
    var s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return parseTime(parseFloat(s));
    if (/^\d{4}-\d\d-\d\d \d/.test(s)) s = s.replace(" ", "T");
    var t = Date.parse(s);
    return isNaN(t) ? null : t;
  }

  function fmtClock(ms) {
    if (ms == null) return "-";
    var d = new Date(ms);
    var p = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  /* "2023-01-01T13:00:00(.000)(Z)" and "2023-01-01 13:00:00" alike: "2023-01-01 13:00:00". */
  function fmtSimTime(v) {
    if (typeof v !== "string") return v == null ? "-" : String(v);
    return /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d/.test(v) ? v.replace("T", " ").slice(0, 19) : v;
  }

  function fmtAge(ms) {
    if (ms == null) return "never";
    var s = Math.max(0, (now() - ms) / 1000);
    if (s < 60) return s.toFixed(0) + " s ago";
    if (s < 3600) return (s / 60).toFixed(0) + " min ago";
    return (s / 3600).toFixed(1) + " h ago";
  }
  function fmtCt(v) {
    if (!isNum(v)) return "-";
    return v.toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 }) + " CT";
  }
  function fmtValue(v) {
    if (v === null || v === undefined) return "-";
    if (isNum(v)) return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, "");
    if (typeof v === "boolean") return v ? "on" : "off";
    if (typeof v === "object") {
      return Object.keys(v)
        .map(function (k) {
          return k + "=" + fmtValue(v[k]);
        })
        .join(", ");
    }
    return String(v);
  }
  function fmtKpi(key, v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "string") return v;
    if (!isNum(v)) return String(v);
    if (key === "savings_capture" || key === "self_sufficiency" || key === "self_consumption")
      return (100 * v).toFixed(1) + "%";
    if (key === "citylearn_cost_ratio") return v.toFixed(3);
    if (key === "wall_s") return v.toFixed(2);
    return v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  /* ------------------------------------------------------------------ fetching */
  function getJson(path, params) {
    var url = API + path;
    var q = COMMUNITY && path !== "/communities" ? ["community=" + encodeURIComponent(COMMUNITY)] : [];
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined) q.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
    });
    if (q.length) url += "?" + q.join("&");
    var headers = { Accept: "application/json" };
    if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
    return fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin" }).then(function (r) {
      var date = r.headers.get("Date");
      if (date) {
        var skew = Date.parse(date) - Date.now();
        state.clockSkewMs = Math.abs(skew) > 2000 ? skew : 0;
      }
      if (r.status === 401) throw new Error("this server wants a read token: open /dashboard#token=...");
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      var next = r.headers.get("X-Next-Cursor");
      return r.json().then(function (data) {
        return { data: data, next: next };
      });
    });
  }

  /* A list answer: a JSON array (this server), or an object holding one under `keys`. */
  function items(data, keys) {
    if (Array.isArray(data)) return data;
    if (data && typeof data === "object") {
      for (var i = 0; i < keys.length; i++) if (Array.isArray(data[keys[i]])) return data[keys[i]];
    }
    return [];
  }
  function objects(list) {
    return list.filter(function (x) {
      return x && typeof x === "object";
    });
  }

  function messageKey(m) {
    if (isNum(m.id)) return "pk:" + m.id;
    if (m.message_id) return "id:" + m.agent_name + ":" + m.message_id;
    return [m.agent_name, m.timestamp, m.received_at, m.message].join("\u0000");
  }

  function pollMessages() {
    var first = state.maxId === null;
    var params = first ? { order: "desc", limit: FEED_ROWS } : { cursor: state.maxId, limit: MSG_PAGE };
    return getJson("/messages", params).then(function (res) {
      var list = objects(items(res.data, ["messages", "items"]));
      list.sort(function (a, b) {
        return isNum(a.id) && isNum(b.id) ? a.id - b.id : (msgTime(a) || 0) - (msgTime(b) || 0);
      });
      var fresh = [];
      list.forEach(function (m) {
        if (isNum(m.id) && (state.maxId === null || m.id > state.maxId)) state.maxId = m.id;
        var k = messageKey(m);
        if (state.seen.has(k)) return;
        state.seen.add(k);
        fresh.push(m);
      });
      if (state.maxId === null) state.maxId = 0; // an empty store: from the first message on
      if (fresh.length) addMessages(fresh, !first);
      if (!first && res.next && list.length >= MSG_PAGE) return pollMessages(); // catch up
      return null;
    });
  }

  function msgTime(m) {
    var t = parseTime(m.received_at);
    return t === null ? parseTime(m.timestamp) : t;
  }

  function addMessages(fresh, highlight) {
    fresh.forEach(function (m) {
      state.messages.push(m);
      var name = String(m.agent_name);
      var a = state.agents[name] || (state.agents[name] = { last: null, recent: [], lastStep: null, count: 0 });
      var t = msgTime(m);
      if (t !== null && (a.last === null || t > a.last)) a.last = t;
      if (t !== null) a.recent.push(t);
      if (isNum(m.step)) a.lastStep = a.lastStep === null ? m.step : Math.max(a.lastStep, m.step);
      a.count++;
    });
    if (state.messages.length > FEED_ROWS * 2) state.messages = state.messages.slice(-FEED_ROWS);
    renderFeed(fresh, highlight);
  }

  function pollSeries() {
    return getJson("/series", { since_step: state.maxStep + 1, limit: SERIES_PAGE }).then(function (res) {
      var list = objects(items(res.data, ["records", "series", "items", "steps"]));
      var before = state.maxStep;
      list.forEach(function (r) {
        if (!isNum(r.step)) return;
        state.records.set(r.step, r);
        if (r.step > state.maxStep) state.maxStep = r.step;
        state.chartsDirty = true;
      });
      if (res.next && state.maxStep > before) return pollSeries(); // more pages
      return null;
    });
  }

  /* Simulated time of a record or decision (`sim_time`, or the seed's `timestamp`). */
  function simTime(r) {
    return r ? r.sim_time || r.timestamp : null;
  }

  function runStrategy() {
    var r = state.maxStep >= 0 ? state.records.get(state.maxStep) : null;
    return r && r.strategy ? String(r.strategy) : null;
  }

  /* New decisions replace those of the same step; the newest TIMELINE_ROWS are kept. */
  function mergeDecisions(list, strategy) {
    if (strategy !== state.decisionStrategy) {
      state.decisions = [];
      state.decisionStrategy = strategy;
    }
    var byKey = {};
    state.decisions.concat(list).forEach(function (d) {
      byKey[isNum(d.step) ? "s" + d.step : "id" + d.id] = d;
    });
    state.decisions = Object.keys(byKey)
      .map(function (k) {
        return byKey[k];
      })
      .sort(function (a, b) {
        return (isNum(b.id) ? b.id : 0) - (isNum(a.id) ? a.id : 0);
      })
      .slice(0, TIMELINE_ROWS);
    state.decisionsLoaded = true;
  }

  function hasRunner() {
    return state.maxStep >= 0 || (state.kpis && Object.keys(state.kpis).length > 0);
  }

  function pollSlow() {
    var strategy = runStrategy();
    return Promise.all([
      getJson("/decisions", { strategy: strategy, limit: state.decisionsLoaded ? 20 : TIMELINE_ROWS }).then(
        function (res) {
          mergeDecisions(objects(items(res.data, ["decisions", "items"])), strategy);
        }
      ),
      getJson("/kpis").then(function (res) {
        state.kpis = res.data && typeof res.data === "object" && !Array.isArray(res.data) ? res.data : null;
      }),
    ])
      .then(function () {
        if (hasRunner()) {
          state.aggregate = null;
          return null;
        }
        return getJson("/aggregate").then(function (res) {
          var d = res.data;
          state.aggregate = d && typeof d === "object" && !Array.isArray(d) ? d : null;
        });
      });
  }

  function setConn(ok, text) {
    var c = $("conn");
    c.className = "conn " + (ok ? "conn-live" : "conn-down");
    c.textContent = text;
  }

  function tick() {
    var jobs = [pollMessages(), pollSeries(), pollSlow()];
    Promise.all(jobs)
      .then(function () {
        setConn(true, "live");
      })
      .catch(function (e) {
        setConn(false, "no answer: " + (e && e.message ? e.message : "server down"));
      })
      .then(function () {
        try {
          state.polls++;
          document.body.dataset.polls = String(state.polls); // rounds done (tests read it)
          renderAgents();
          if (chartsHint() !== state.hint || shownStep() !== state.shown) state.chartsDirty = true;
          // one place, one moment: every panel is drawn from the same state (the same step)
          if (state.chartsDirty) renderCharts();
          renderDecision();
          renderTimeline();
          renderKpis();
        } finally {
          setTimeout(tick, POLL_MS); // a rendering error must not stop the polling
        }
      });
  }

  /* ------------------------------------------------------------------ rendering */
  function leverText(levers) {
    if (!levers || typeof levers !== "object") return "";
    return Object.keys(levers)
      .sort()
      .map(function (k) {
        return k + "=" + fmtValue(levers[k]);
      })
      .join("; ");
  }

  function signatureBadge(m) {
    if (m.signed === true) return el("span", "badge signed", "signed");
    if (m.signed === false) return el("span", "badge unsigned", "unsigned");
    return el("span", "none", "-");
  }

  function feedFilter() {
    return $("feed-agent").value;
  }

  function applyFeedFilter() {
    var want = feedFilter();
    var rows = document.querySelectorAll("#feed tbody tr");
    for (var i = 0; i < rows.length; i++) rows[i].hidden = !!want && rows[i].dataset.agent !== want;
  }

  function syncAgentOptions(names) {
    var select = $("feed-agent");
    var have = {};
    for (var i = 0; i < select.options.length; i++) have[select.options[i].value] = 1;
    names.forEach(function (n) {
      if (have[n]) return;
      var o = el("option", "", n);
      o.value = n;
      select.appendChild(o);
    });
  }

  function renderFeed(fresh, highlight) {
    var body = document.querySelector("#feed tbody");
    var want = feedFilter();
    var frag = document.createDocumentFragment();
    for (var i = fresh.length - 1; i >= 0; i--) {
      var m = fresh[i];
      var tr = el("tr", highlight ? "fresh" : "");
      tr.dataset.agent = String(m.agent_name);
      tr.hidden = !!want && tr.dataset.agent !== want;
      if (m.message_id) tr.dataset.messageId = String(m.message_id);
      tr.appendChild(el("td", "num", fmtClock(msgTime(m))));
      tr.appendChild(el("td", "agent", m.agent_name));
      tr.appendChild(el("td", "num", isNum(m.step) ? m.step : "-"));
      tr.appendChild(el("td", "msg", typeof m.message === "string" ? m.message : JSON.stringify(m.message)));
      tr.appendChild(el("td", "levers", leverText(m.levers)));
      tr.appendChild(el("td", "num", isNum(m.confidence) ? m.confidence.toFixed(2) : "-"));
      var sig = el("td", "sig");
      sig.appendChild(signatureBadge(m));
      tr.appendChild(sig);
      frag.appendChild(tr);
    }
    body.insertBefore(frag, body.firstChild);
    while (body.rows.length > FEED_ROWS) body.deleteRow(body.rows.length - 1);
    $("feed-count").textContent = "(" + state.seen.size + " received since the page opened, newest first)";
  }

  function agentStatus(a) {
    if (!a || a.last === null) return "silent";
    var age = (now() - a.last) / 1000;
    return age <= HEALTHY_S ? "healthy" : age <= LATE_S ? "late" : "silent";
  }

  function renderAgents() {
    var names = KNOWN_AGENTS.slice();
    Object.keys(state.agents)
      .sort()
      .forEach(function (n) {
        if (names.indexOf(n) < 0) names.push(n);
      });
    syncAgentOptions(names);
    var cutoff = now() - 60000;
    var body = document.querySelector("#agents tbody");
    clear(body);
    names.forEach(function (n) {
      var a = state.agents[n];
      if (a)
        a.recent = a.recent.filter(function (t) {
          return t >= cutoff;
        });
      var st = agentStatus(a);
      var tr = el("tr");
      tr.dataset.agent = n;
      tr.dataset.status = st;
      tr.appendChild(el("td", "agent", n));
      var td = el("td");
      td.appendChild(el("span", "badge " + st, st));
      tr.appendChild(td);
      tr.appendChild(el("td", "", a ? fmtAge(a.last) : "never"));
      tr.appendChild(el("td", "num", a ? a.recent.length : 0));
      tr.appendChild(el("td", "num", a && a.lastStep !== null ? a.lastStep : "-"));
      body.appendChild(tr);
    });
  }

  function chips(id, names, cls) {
    var box = $(id);
    clear(box);
    if (!names || !names.length) {
      box.appendChild(el("span", "none", "none"));
      return;
    }
    names.forEach(function (n) {
      box.appendChild(el("span", "chip " + cls, n));
    });
  }

  /* The step every panel shows: with a runner, the newest step whose record (header, charts)
   * and decision (decision panel, timeline) the page both holds. The two come from different
   * requests of a polling round, answered at different moments while the runner steps on
   * (and the server stores the decision of a step just before the record of its result). */
  function shownStep() {
    if (state.maxStep < 0) return -1;
    var newest = -1;
    state.decisions.forEach(function (d) {
      if (isNum(d.step) && d.step > newest) newest = d.step;
    });
    return newest < 0 ? state.maxStep : Math.min(state.maxStep, newest);
  }

  /* Decisions of a step (the runner's) up to the shown step, oldest first; recent-window
   * decisions (no runner) have no step. */
  function stepDecisions() {
    var upTo = state.maxStep >= 0 ? shownStep() : Infinity;
    return state.decisions
      .filter(function (d) {
        return isNum(d.step) && d.step <= upTo;
      })
      .sort(function (a, b) {
        return a.step - b.step;
      });
  }

  function currentDecision() {
    if (state.aggregate) return state.aggregate;
    var steps = stepDecisions();
    if (steps.length) return steps[steps.length - 1];
    if (state.maxStep >= 0) return null; // the header's step is not among the decisions held
    return state.decisions.length ? state.decisions[0] : null; // newest first
  }

  function renderDecision() {
    var d = currentDecision();
    if (!d) return;
    var rec = isNum(d.step) ? state.records.get(d.step) : null;
    $("decision-action").textContent = d.action || "-";
    var bits = [];
    if (d.strategy) bits.push("strategy " + d.strategy);
    if (isNum(d.step)) bits.push("step " + d.step);
    var when = simTime(rec) || simTime(d);
    if (when) bits.push(fmtSimTime(when));
    if (d.details && typeof d.details === "object") {
      var counts = Object.keys(d.details)
        .filter(function (k) {
          return isNum(d.details[k]);
        })
        .map(function (k) {
          return k.replace(/_count$/, "") + " " + d.details[k];
        });
      if (counts.length) bits.push(counts.join(", "));
    }
    $("decision-meta").textContent = bits.join(" · ");
    chips("decision-followed", d.followed, "followed");
    chips("decision-overridden", d.overridden, "overridden");
    chips("decision-missing", d.missing, "missing");
    var body = document.querySelector("#decision-parameters tbody");
    clear(body);
    var p = d.parameters && typeof d.parameters === "object" ? d.parameters : {};
    Object.keys(p)
      .sort()
      .forEach(function (k) {
        var tr = el("tr");
        tr.appendChild(el("td", "", k));
        tr.appendChild(el("td", "", fmtValue(p[k])));
        body.appendChild(tr);
      });
  }

  var actionClasses = {};
  function actionClass(action) {
    var key = String(action || "");
    if (!(key in actionClasses)) actionClasses[key] = "a" + (Object.keys(actionClasses).length % 8);
    return actionClasses[key];
  }

  function renderTimeline() {
    var list = stepDecisions();
    var strip = $("timeline-strip");
    clear(strip);
    list.slice(-120).forEach(function (d) {
      var s = el("span", actionClass(d.action) + (d.missing && d.missing.length ? " miss" : ""));
      s.title = "step " + d.step + ": " + (d.action || "");
      strip.appendChild(s);
    });
    var body = document.querySelector("#timeline tbody");
    clear(body);
    list
      .slice(-TIMELINE_ROWS)
      .reverse()
      .forEach(function (d) {
        var tr = el("tr");
        var rec = isNum(d.step) ? state.records.get(d.step) : null;
        tr.appendChild(el("td", "num", isNum(d.step) ? d.step : "-"));
        tr.appendChild(el("td", "", fmtSimTime(simTime(rec) || simTime(d))));
        tr.appendChild(el("td", "", d.strategy || "-"));
        var act = el("td");
        act.appendChild(el("span", "chip " + actionClass(d.action), d.action || "-"));
        tr.appendChild(act);
        ["followed", "overridden", "missing"].forEach(function (k) {
          var v = d[k];
          tr.appendChild(el("td", "", Array.isArray(v) && v.length ? v.join(", ") : "-"));
        });
        body.appendChild(tr);
      });
  }

  function kpiRows(k) {
    if (!k || typeof k !== "object") return {};
    if (k.kpis && typeof k.kpis === "object") return kpiRows(k.kpis);
    var values = Object.keys(k).map(function (n) {
      return k[n];
    });
    var nested =
      values.length &&
      values.every(function (v) {
        return v && typeof v === "object" && !Array.isArray(v);
      });
    if (nested) return k;
    var rows = {};
    rows[k.strategy || "live run"] = k;
    return rows;
  }

  function renderKpis() {
    var rows = kpiRows(state.kpis);
    var names = Object.keys(rows);
    var labels = KPI_LABELS.filter(function (l) {
      return names.some(function (n) {
        return l[0] in rows[n];
      });
    });
    var head = document.querySelector("#kpis thead tr");
    var body = document.querySelector("#kpis tbody");
    clear(head);
    clear(body);
    if (!names.length) return;
    // one row per KPI (the dashboard column is narrow), one column per run
    head.appendChild(el("th", "", "KPI"));
    names.forEach(function (n) {
      head.appendChild(el("th", "num", n));
    });
    labels.forEach(function (l) {
      var tr = el("tr");
      tr.dataset.kpi = l[0];
      tr.appendChild(el("td", "", l[1]));
      names.forEach(function (n) {
        tr.appendChild(el("td", "num", fmtKpi(l[0], rows[n][l[0]])));
      });
      body.appendChild(tr);
    });
  }

  /* Per-step runner records -> the chart data of charts.js (a strategy run and the baseline). */
  function chartData() {
    var upTo = shownStep();
    var steps = Array.from(state.records.keys())
      .filter(function (s) {
        return s <= upTo;
      })
      .sort(function (a, b) {
        return a - b;
      });
    var run = { name: "strategy", role: "strategy", step: steps, timestamp: [], soc: {} };
    var base = { name: "no-control baseline", role: "baseline", step: steps, tokens_spent_ct: [] };
    var cols = [
      "tokens_spent_ct", "price_day_ahead", "price_imbalance_buy", "price_feed_in",
      "import_kwh", "export_kwh", "p2p_kwh", "burned_ct", "burn_rate_ct_per_kwh",
    ];
    cols.forEach(function (c) {
      run[c] = [];
    });
    var socNames = {};
    steps.forEach(function (s) {
      var r = state.records.get(s);
      if (r.soc && typeof r.soc === "object") Object.keys(r.soc).forEach(function (n) { socNames[n] = 1; });
      Object.keys(r).forEach(function (k) {
        if (k.indexOf("soc_") === 0) socNames[k.slice(4)] = 1;
      });
    });
    Object.keys(socNames).forEach(function (n) {
      run.soc[n] = [];
    });
    steps.forEach(function (s) {
      var r = state.records.get(s);
      if (r.strategy) run.name = String(r.strategy);
      run.timestamp.push(simTime(r));
      cols.forEach(function (c) {
        var v = r[c];
        if (!isNum(v) && c === "price_day_ahead") v = r.price_day_ahead_ct_per_kwh;
        if (!isNum(v) && c === "burn_rate_ct_per_kwh" && r.levers) v = r.levers.burn_rate_ct_per_kwh;
        run[c].push(isNum(v) ? v : null);
      });
      base.tokens_spent_ct.push(isNum(r.baseline_tokens_spent_ct) ? r.baseline_tokens_spent_ct : null);
      Object.keys(run.soc).forEach(function (n) {
        var v = r.soc && isNum(r.soc[n]) ? r.soc[n] : r["soc_" + n];
        run.soc[n].push(isNum(v) ? v : null);
      });
    });
    return { runs: [run, base] };
  }

  /* What to tell the charts when they have nothing to draw: with agents posting but no runner
   * publishing, the command that starts one. */
  function chartsHint() {
    if (hasRunner() || !state.seen.size) return "";
    return "no runner is publishing: start `energy-agents run-sim` or `energy-agents up`";
  }

  /* Mean day-ahead price of the simulated day of `last` (CT/kWh), from the records held. */
  function todaysPrice(last) {
    var day = String(simTime(last) || "").slice(0, 10);
    var sum = 0, n = 0;
    state.records.forEach(function (r) {
      if (day && String(simTime(r) || "").slice(0, 10) === day && isNum(r.price_day_ahead)) {
        sum += r.price_day_ahead;
        n++;
      }
    });
    return n ? sum / n : null;
  }

  /* A negative saving early on is mostly energy bought into storage that the baseline did not
   * buy: say how much, and what it is worth at today's prices. null when that is not the case. */
  function storageExplanation(s, last) {
    if (!s || !isNum(s.saved) || s.saved >= 0 || !last) return null;
    if (!isNum(last.stored_kwh) || !isNum(last.baseline_stored_kwh)) return null;
    var extra = last.stored_kwh - last.baseline_stored_kwh;
    var price = todaysPrice(last);
    if (!(extra > 0.05) || !isNum(price)) return null;
    var worth = extra * price;
    var net = s.saved + worth;
    return {
      worth: worth,
      text:
        "\u2212" + fmtCt(-s.saved) + " so far: " + EnergyCharts.formatNumber(extra) +
        " kWh more in storage than the no-control baseline, worth ~" + fmtCt(worth) +
        " at today's prices (" + EnergyCharts.formatNumber(price) + " CT/kWh mean day-ahead)" +
        (net >= 0 ? "; counting it, ahead by ~" + fmtCt(net) : "; counting it, behind by ~" + fmtCt(-net)),
    };
  }

  function renderCharts() {
    state.chartsDirty = false;
    var data = chartData();
    var hint = chartsHint();
    state.hint = hint;
    state.shown = shownStep();
    EnergyCharts.renderPanels(document, data, hint ? { empty: hint } : null);
    var hintBox = $("charts-hint");
    hintBox.textContent = hint;
    hintBox.hidden = !hint;
    var sv = EnergyCharts.savings(data);
    var main = data.runs[0];
    var s = sv[main.name];
    var last = main.step.length ? state.records.get(main.step[main.step.length - 1]) : null;
    if (last) {
      $("hl-strategy").textContent = last.strategy || "-";
      $("hl-step").textContent = String(last.step);
      $("hl-time").textContent = fmtSimTime(simTime(last));
    }
    var explain = $("hl-explain");
    explain.textContent = "";
    explain.hidden = true;
    if (s) {
      $("hl-spent").textContent = fmtCt(s.spent);
      $("hl-baseline").textContent = fmtCt(s.baseline);
      var saved = $("hl-saved");
      var pct = isNum(s.saved) && s.baseline ? " (" + ((100 * s.saved) / Math.abs(s.baseline)).toFixed(1) + "%)" : "";
      var why = storageExplanation(s, last);
      saved.textContent = isNum(s.saved) ? fmtCt(s.saved) + (why ? " (charging storage)" : pct) : "-";
      saved.className = isNum(s.saved) ? (s.saved >= 0 ? "pos" : why ? "charging" : "neg") : "";
      if (why) {
        explain.textContent = why.text;
        explain.hidden = false;
      }
      $("saving-note").textContent = isNum(s.saved)
        ? (why ? why.text : EnergyCharts.savingText(s)) + " over " + main.step.length + " steps"
        : "";
    }
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      state.chartsDirty = true;
      renderCharts();
    }, 150);
  });

  /* The community selector: the names with rows; choosing one reloads the page for it. */
  function loadCommunities() {
    var select = $("community");
    getJson("/communities").then(function (res) {
      var names = (res.data && Array.isArray(res.data.communities) ? res.data.communities : []).slice();
      var shown = COMMUNITY || "default";
      if (names.indexOf(shown) < 0) names.push(shown);
      select.textContent = "";
      names.forEach(function (name) {
        var opt = document.createElement("option");
        opt.value = name;
        opt.textContent = name;
        if (name === shown) opt.selected = true;
        select.appendChild(opt);
      });
    }).catch(function () {
      /* an older server without /communities: the selector keeps the one shown */
    });
    select.addEventListener("change", function () {
      var params = new URLSearchParams(location.search);
      if (select.value === "default") params.delete("community");
      else params.set("community", select.value);
      var query = params.toString();
      location.assign(location.pathname + (query ? "?" + query : "") + location.hash);
    });
  }

  function start() {
    loadCommunities();
    $("feed-agent").addEventListener("change", applyFeedFilter);
    renderAgents();
    renderCharts();
    tick();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
