/* The backtest page's "Fills and costs" section: a run's fill model and costs.
   backtest.js asks it to validate() and merges values() into the request body; the hint under
   the fill model says where the chosen dataset has the finer bars intrabar needs. */
(function () {
  "use strict";
  const { api, params, nsToDate } = window.OST;
  const $ = (id) => document.getElementById(id);

  const MODEL_HINTS = {
    classic: "OneSecondTrader 0.75's fills: a stop-limit triggered inside a bar fills at the better of limit and open.",
    strict: "As classic, but a stop-limit triggered inside a bar fills no better than its stop; what the open decides fills first.",
    intrabar: "Strict, and bars where the order of fills matters are walked through their finer bars (1-second under 1-minute).",
  };
  const FINER = { 32: [], 33: [32], 34: [32, 33], 35: [32, 33] }; // run rtype -> finer rtypes
  const RTYPE_NAME = { 32: "1-second", 33: "1-minute" };
  const FIELDS = ["fill_model", "slippage_ticks", "slippage_bps", "tick_size", "participation_cap", "latency_ms"];
  let coverageToken = 0;

  function error(field, message) {
    const box = $("err-" + field);
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  function number(id) {
    const text = $(id).value.trim();
    if (text === "") return null;
    const value = Number(text);
    return Number.isFinite(value) ? value : NaN;
  }

  /* Client-side checks; the server checks again (same limits). */
  function validate() {
    FIELDS.forEach((field) => error(field, ""));
    let ok = true;
    const slip = number("slippage");
    const slipField = $("slippage_unit").value === "bps" ? "slippage_bps" : "slippage_ticks";
    if (slip !== null && !(slip >= 0)) { error(slipField, "Slippage must be a number ≥ 0."); ok = false; }
    const tick = number("tick_size");
    if (tick !== null && !(tick > 0)) { error("tick_size", "Tick size must be a number > 0, or empty."); ok = false; }
    const cap = number("participation_cap");
    if (cap !== null && !(cap > 0 && cap <= 100)) {
      error("participation_cap", "Volume cap must be a percentage above 0 and at most 100, or empty."); ok = false;
    }
    const latency = number("latency_ms");
    if (latency !== null && !(latency >= 0)) { error("latency_ms", "Latency must be a number of ms ≥ 0."); ok = false; }
    if (!ok) $("fill-details").open = true;
    return ok;
  }

  /* The request fields; only those set, so unset ones take their defaults. */
  function values() {
    const out = { fill_model: $("fill_model").value };
    const slip = number("slippage");
    if (slip) out[$("slippage_unit").value === "bps" ? "slippage_bps" : "slippage_ticks"] = slip;
    const tick = number("tick_size");
    if (tick !== null) out.tick_size = tick;
    const cap = number("participation_cap");
    if (cap !== null) out.participation_cap = cap / 100;
    const latency = number("latency_ms");
    if (latency) out.latency_ms = latency;
    return out;
  }

  function summaryText() {
    const v = values();
    const parts = [v.fill_model + " fills"];
    if (v.slippage_ticks) parts.push("slippage " + v.slippage_ticks + " ticks");
    if (v.slippage_bps) parts.push("slippage " + v.slippage_bps + " bp");
    if (v.participation_cap !== undefined && Number.isFinite(v.participation_cap)) {
      parts.push("≤ " + +(v.participation_cap * 100).toFixed(4) + " % of a bar's volume");
    }
    if (v.latency_ms) parts.push("latency " + v.latency_ms + " ms");
    if (parts.length === 1) parts.push("no costs");
    return parts.join(", ");
  }

  /* Where the dataset has the finer bars the intrabar model reads (coverage API). */
  async function finerHint() {
    const model = $("fill_model").value;
    const hint = $("fill-model-hint");
    hint.textContent = MODEL_HINTS[model] || "";
    if (model !== "intrabar") return;
    const rtype = Number($("rtype").value);
    const publisherId = $("dataset").value;
    const finer = FINER[rtype] || [];
    if (!finer.length) { hint.textContent += " Nothing is finer than 1-second bars: every ambiguous bar stays unresolved."; return; }
    if (!publisherId) return;
    const token = ++coverageToken;
    const lines = [];
    for (const finerRtype of finer) {
      try {
        const data = await api.get("/api/secmaster/symbols_coverage" + params({ publisher_id: publisherId, rtype: finerRtype }));
        const rows = data.symbols || [];
        if (rows.length) {
          const first = Math.min(...rows.map((r) => Number(r.min_ts)));
          const last = Math.max(...rows.map((r) => Number(r.max_ts)));
          lines.push(RTYPE_NAME[finerRtype] + " bars of " + rows.length + " symbol" + (rows.length > 1 ? "s" : "") +
            " from " + nsToDate(first) + " to " + nsToDate(last));
        }
      } catch (err) {
        lines.push("finer bars unknown (" + err.message + ")");
      }
    }
    if (token !== coverageToken) return;
    hint.textContent += lines.length
      ? " This dataset has " + lines.join("; ") + ". Ambiguous bars elsewhere are counted as unresolved."
      : " This dataset has no finer bars: every ambiguous bar will be counted as unresolved.";
  }

  function refresh() {
    $("fill-summary").textContent = summaryText();
  }

  function init() {
    if (!$("fill-details")) return;
    ["fill_model", "slippage", "slippage_unit", "tick_size", "participation_cap", "latency_ms"].forEach((id) => {
      $(id).addEventListener("input", refresh);
      $(id).addEventListener("change", refresh);
    });
    $("fill_model").addEventListener("change", finerHint);
    $("dataset").addEventListener("change", finerHint);
    $("rtype").addEventListener("change", finerHint);
    $("fill-details").addEventListener("toggle", finerHint);
    // A server error placed in this section (by backtest.js) opens it, so it is seen.
    const opener = new MutationObserver(() => {
      if (FIELDS.some((field) => !$("err-" + field).hidden)) $("fill-details").open = true;
    });
    FIELDS.forEach((field) => opener.observe($("err-" + field), { attributes: true, attributeFilter: ["hidden"] }));
    refresh();
    finerHint();
  }

  window.OST.fillSettings = { values, validate };
  document.addEventListener("DOMContentLoaded", init);
})();
