/* Shared by the analysis pages: PNG charts with loading/error states, completed-run pickers
   and the sortable round-trip table. Exposes OST.charts. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, nsToDateTime, params } = window.OST;

  /* Shows ``url`` in ``img``; ``status`` tells "Loading…" and, on failure, the API's message. */
  function loadImage(img, url, status, link) {
    const figure = img.closest("figure, section, .chart-box");
    if (figure) figure.classList.add("is-loading");
    say(status, "Loading chart…", "loading");
    img.hidden = false;
    img.onload = () => {
      if (figure) figure.classList.remove("is-loading");
      say(status, "", "info");
    };
    img.onerror = async () => {
      if (figure) figure.classList.remove("is-loading");
      img.hidden = true;
      let message = "The chart could not be drawn.";
      try {
        await api.get(url);
      } catch (err) {
        message = "The chart could not be drawn: " + err.message;
      }
      say(status, message, "error");
    };
    img.src = url;
    if (link) link.href = url;
  }

  /* A status line placed right after a figure's image, created on first use. */
  function statusFor(img) {
    const host = img.closest("figure, section") || img.parentNode;
    let node = host.querySelector(":scope > .status");
    if (!node) {
      node = el("p", { class: "status", role: "status", hidden: true });
      host.append(node);
    }
    return node;
  }

  async function completedRuns() {
    const data = await api.get("/api/runs?limit=500");
    return (data.runs || []).filter((run) => run.status === "completed");
  }

  /* Fills ``select`` with completed runs; picks ?run= (or the newest). Returns {runs, wanted}. */
  async function fillRunPicker(select) {
    const runs = await completedRuns();
    const wanted = new URLSearchParams(window.location.search).get("run");
    select.replaceChildren();
    if (runs.length === 0) select.append(el("option", { value: "", text: "No completed runs" }));
    for (const run of runs) select.append(el("option", { value: run.run_id, text: window.OST.runLabel(run) }));
    select.disabled = runs.length === 0;
    if (wanted && runs.some((r) => r.run_id === wanted)) select.value = wanted;
    return { runs: runs, wanted: wanted };
  }

  /* Keeps the page's state in its URL (?run=&symbol=&trade=), so a reload or a shared link
     shows the same; a null or empty value removes the parameter. */
  function setQuery(updates) {
    const url = new URL(window.location.href);
    for (const [key, value] of Object.entries(updates)) {
      if (value === null || value === undefined || value === "") url.searchParams.delete(key);
      else url.searchParams.set(key, String(value));
    }
    window.history.replaceState(null, "", url.pathname + url.search);
  }

  function rememberRun(runId) { setQuery({ run: runId }); }

  /* Round trips come from the server a page at a time, each with ``n``: its number in the
     whole run (entry-time order), so trade #137 is #137 whichever symbol is shown. */
  function withNumbers(data) {
    return {
      count: data.count || 0,
      roundtrips: (data.roundtrips || []).map((rt) => Object.assign({ n: rt.number }, rt)),
    };
  }

  /* A page of a run's round trips: query {symbol, sort, order, offset, limit}. */
  async function roundtripPage(runId, query) {
    const url = "/api/runs/" + encodeURIComponent(runId) + "/roundtrips" + params(query);
    return withNumbers(await api.get(url));
  }

  /* The run's trade number ``n``, or null. */
  async function roundtripByNumber(runId, n) {
    const wanted = Number(n);
    if (!Number.isInteger(wanted) || wanted < 1) return null;
    const page = await roundtripPage(runId, { sort: "number", offset: wanted - 1, limit: 1 });
    const rt = page.roundtrips[0];
    return rt && rt.n === wanted ? rt : null;
  }

  async function fillSymbolPicker(select, runId, allLabel) {
    const data = await api.get("/api/runs/" + encodeURIComponent(runId) + "/symbols");
    const traded = new Set(data.traded || []);
    select.replaceChildren();
    if (allLabel) select.append(el("option", { value: "", text: allLabel }));
    for (const symbol of data.symbols || []) {
      select.append(el("option", { value: symbol, text: symbol + (traded.has(symbol) ? "" : " (no trades)") }));
    }
    select.disabled = (data.symbols || []).length === 0;
    return data;
  }

  function runSummary(run) {
    const c = run.config || {};
    const p = c.strategy_params || {};
    const paramText = Object.entries(p).map(([k, v]) => k + "=" + v).join(", ");
    return [
      c.strategy + (paramText ? " (" + paramText + ")" : ""),
      (c.symbols || []).join(", "),
      (c.bar_period || "").toLowerCase() + " bars",
      c.publisher && c.dataset ? c.publisher + " / " + c.dataset : "",
      c.start_date || c.end_date ? (c.start_date || "first bar") + " → " + (c.end_date || "last bar") : "all dates",
      "recorded: " + (c.record || "full"),
      fillsText(run),
    ].filter(Boolean).join(" · ");
  }

  /* The run's fill model, what it found and its costs (README: Fill models). */
  function fillsText(run) {
    const c = run.config || {};
    const m = run.metadata || {};
    let model = (c.fill_model || "classic") + " fills";
    if (m.ambiguous_bars !== undefined) {
      model += " (" + m.ambiguous_bars + " ambiguous bars: " + m.resolved_bars + " resolved from finer bars, " +
        m.unresolved_bars + " unresolved)";
    }
    const parts = [model];
    if (c.slippage_ticks) parts.push("slippage " + c.slippage_ticks + " ticks" + (c.tick_size ? " of " + c.tick_size : ""));
    if (c.slippage_bps) parts.push("slippage " + c.slippage_bps + " bp");
    if (c.participation_cap !== null && c.participation_cap !== undefined) {
      parts.push("at most " + +(c.participation_cap * 100).toFixed(4) + " % of a bar's volume");
    }
    if (c.latency_ms) parts.push("latency " + c.latency_ms + " ms");
    return parts.join(" · ");
  }

  function tradeChartUrl(runId, rt) {
    return "/api/runs/" + encodeURIComponent(runId) + "/chart.png" + params({
      symbol: rt.symbol, start_ns: rt.entry_ts, end_ns: rt.exit_ts, direction: rt.direction,
      pnl: rt.pnl_after_commission,
    });
  }

  /* ---------- round-trip table ---------- */

  const COLUMNS = [
    { key: "n", label: "#", num: true, fmt: (v) => String(v) },
    { key: "symbol", label: "Symbol" },
    { key: "direction", label: "Side" },
    { key: "entry_ts", label: "Entry (UTC)", fmt: (v) => nsToDateTime(v, true), big: true },
    { key: "exit_ts", label: "Exit (UTC)", fmt: (v) => nsToDateTime(v, true), big: true },
    { key: "duration_bars", label: "Bars", num: true, fmt: (v) => num(v, 0) },
    { key: "max_position", label: "Max pos.", num: true, fmt: (v) => num(v, 0) },
    { key: "high_watermark", label: "High WM", num: true, money: true },
    { key: "low_watermark", label: "Low WM", num: true, money: true },
    { key: "max_drawdown", label: "Max DD", num: true, fmt: (v) => num(v) },
    { key: "pnl_before_commission", label: "P&L gross", num: true, money: true },
    { key: "pnl_after_commission", label: "P&L net", num: true, money: true },
  ];

  const PAGE_SIZE = 100;

  /* The round-trip table, paged and sorted on the server (a run may have hundreds of
     thousands of trades): ``source(query)`` answers {roundtrips, count} for {sort, order,
     offset, limit}; onPick(rt) is called when a row is clicked or activated with the keyboard. */
  class RoundtripTable {
    constructor(table, onPick) {
      this.table = table;
      this.onPick = onPick;
      this.source = null;
      this.rows = [];
      this.count = 0;
      this.offset = 0;
      this.sortKey = "n";
      this.ascending = true;
      this.token = 0;
      this.pager = el("div", { class: "pager" });
      this.previousButton = el("button", { type: "button", text: "◀ Previous page" });
      this.nextButton = el("button", { type: "button", text: "Next page ▶" });
      this.position = el("span", { class: "muted small", "aria-live": "polite" });
      this.previousButton.addEventListener("click", () => this.page(-1));
      this.nextButton.addEventListener("click", () => this.page(1));
      this.pager.append(this.previousButton, this.position, this.nextButton);
      (table.closest(".table-wrap") || table).after(this.pager);
      this.renderHead();
    }

    renderHead() {
      const tr = this.table.tHead.rows[0];
      tr.replaceChildren();
      for (const column of COLUMNS) {
        const button = el("button", { type: "button", class: "sort", text: column.label });
        button.addEventListener("click", () => this.sortBy(column.key));
        const th = el("th", { scope: "col", class: column.num ? "num" : "", dataset: { key: column.key } }, [button]);
        tr.append(th);
      }
      this.markSorted();
    }

    markSorted() {
      for (const th of this.table.tHead.rows[0].cells) {
        const on = th.dataset.key === this.sortKey;
        th.setAttribute("aria-sort", on ? (this.ascending ? "ascending" : "descending") : "none");
      }
    }

    sortBy(key) {
      if (this.sortKey === key) this.ascending = !this.ascending;
      else { this.sortKey = key; this.ascending = true; }
      this.markSorted();
      return this.load(0);
    }

    /* Shows the first page of a new source (a run, a symbol). */
    setSource(source) {
      this.source = source;
      return this.load(0);
    }

    /* Loads the page at ``offset``; resolves to the rows shown. */
    async load(offset) {
      if (!this.source) return [];
      const token = ++this.token;
      this.table.setAttribute("aria-busy", "true");
      try {
        const data = await this.source({
          sort: this.sortKey === "n" ? "number" : this.sortKey,
          order: this.ascending ? "asc" : "desc",
          offset: Math.max(0, offset),
          limit: PAGE_SIZE,
        });
        if (token !== this.token) return this.rows;  // a newer request won
        this.rows = data.roundtrips;
        this.count = data.count;
        this.offset = Math.max(0, offset);
        this.renderBody();
        return this.rows;
      } finally {
        if (token === this.token) this.table.setAttribute("aria-busy", "false");
      }
    }

    page(step) {
      return this.load(this.offset + step * PAGE_SIZE);
    }

    /* Whether a trade comes before / after ``rt`` in the order shown (on any page). */
    hasNeighbour(rt, which) {
      const index = this.rows.findIndex((row) => row.n === rt.n);
      if (which === "previous") return index > 0 || (index === 0 && this.offset > 0);
      return index >= 0 && this.offset + index + 1 < this.count;
    }

    /* The trade before / after ``rt`` in the order shown, turning the page when needed. */
    async neighbour(rt, which) {
      const index = this.rows.findIndex((row) => row.n === rt.n);
      if (index < 0) return null;
      const wanted = index + (which === "previous" ? -1 : 1);
      if (wanted >= 0 && wanted < this.rows.length) return this.rows[wanted];
      if (!this.hasNeighbour(rt, which)) return null;
      const rows = await this.page(which === "previous" ? -1 : 1);
      return which === "previous" ? rows[rows.length - 1] || null : rows[0] || null;
    }

    /* Marks the row of ``rt`` as the one shown and scrolls it into the table's view. */
    mark(rt) {
      this.table.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
      const tr = this.table.querySelector('tbody tr[data-n="' + rt.n + '"]');
      if (tr) { tr.classList.add("selected"); tr.scrollIntoView({ block: "nearest" }); }
    }

    message(text) {
      this.rows = [];
      this.count = 0;
      this.table.tBodies[0].replaceChildren(el("tr", {}, [el("td", { colspan: String(COLUMNS.length), class: "empty-cell", text: text })]));
      this.pager.hidden = true;
    }

    renderBody() {
      if (this.rows.length === 0) { this.message("No round trips: the strategy did not complete a trade here."); return; }
      const body = this.table.tBodies[0];
      body.replaceChildren();
      for (const rt of this.rows) {
        const tr = el("tr", { tabindex: "0", class: "clickable", dataset: { n: rt.n }, "aria-label": "Trade " + rt.n + ": show chart" });
        for (const c of COLUMNS) {
          const value = rt[c.key];
          const text = c.fmt ? c.fmt(value) : c.money ? num(value) : String(value);
          tr.append(el("td", { class: (c.num ? "num " : "") + (c.money ? signClass(value) : ""), text: text }));
        }
        tr.addEventListener("click", () => this.pick(tr, rt));
        tr.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); this.pick(tr, rt); }
        });
        body.append(tr);
      }
      const last = this.offset + this.rows.length;
      this.position.textContent = num(this.offset + 1, 0) + "–" + num(last, 0) + " of " + num(this.count, 0);
      this.previousButton.disabled = this.offset === 0;
      this.nextButton.disabled = last >= this.count;
      this.pager.hidden = this.count <= PAGE_SIZE;
    }

    pick(tr, rt) {
      this.table.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
      tr.classList.add("selected");
      this.onPick(rt);
    }
  }

  window.OST.charts = {
    loadImage, statusFor, completedRuns, fillRunPicker, setQuery, rememberRun, fillSymbolPicker,
    roundtripPage, roundtripByNumber, runSummary, tradeChartUrl, RoundtripTable,
  };
})();
