/* Shared helpers for the pages: JSON fetch with the session + CSRF token, error messages
   from the API's {"error", "fields"} bodies, a tiny DOM builder and number/time formatting.
   Plain script (no build step): everything hangs off window.OST. */
(function () {
  "use strict";

  class ApiError extends Error {
    constructor(message, status, fields) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.fields = fields || {};
    }
  }

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  function messageForStatus(status) {
    if (status === 401 || status === 403) return "Your session has ended: reload the page and log in again.";
    if (status === 404) return "Not found.";
    if (status >= 500) return "The server failed (HTTP " + status + "). Try again; if it persists, check the server log.";
    return "Request failed (HTTP " + status + ").";
  }

  /* Nanosecond timestamps exceed 2^53: integers that a double cannot hold exactly are kept as
     their decimal text, so they go back to the API unchanged. */
  const SOURCE_TEXT = (function () {
    try { return JSON.parse("1", (k, v, ctx) => ctx && ctx.source) === "1"; } catch (e) { return false; }
  })();

  function parseJson(text) {
    if (SOURCE_TEXT) {
      return JSON.parse(text, (key, value, ctx) =>
        typeof value === "number" && !Number.isSafeInteger(value) && ctx && /^-?\d+$/.test(ctx.source) ? ctx.source : value);
    }
    return JSON.parse(text.replace(/([:,[]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
  }

  /* Sends a request and resolves with the decoded JSON body; rejects with ApiError. */
  async function request(method, url, body) {
    const headers = { Accept: "application/json" };
    const init = { method: method, credentials: "same-origin", headers: headers };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = cookie("csrftoken");
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError("Cannot reach the server: " + err.message, 0);
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { data = parseJson(await response.text()); } catch (err) { data = null; }
    }
    if (!response.ok) {
      let message = data && (data.error || data.detail);
      if (typeof message !== "string" || !message) message = messageForStatus(response.status);
      const fields = data && typeof data.fields === "object" && data.fields ? data.fields : {};
      throw new ApiError(message, response.status, fields);
    }
    return data === null ? {} : data;
  }

  /* An error's message for a status line: the message, plus each field's message that it does
     not already say (a field message often repeats the main one word for word). */
  function errorText(err) {
    const message = (err && err.message) || String(err);
    const extra = Object.entries((err && err.fields) || {})
      .map(([field, value]) => [field, Array.isArray(value) ? value.join(" ") : String(value)])
      .filter(([, text]) => text && !message.includes(text))
      .map(([field, text]) => field + ": " + text);
    return extra.length ? message + " (" + extra.join("; ") + ")" : message;
  }

  const api = {
    get: (url) => request("GET", url),
    post: (url, body) => request("POST", url, body === undefined ? {} : body),
    put: (url, body) => request("PUT", url, body),
    del: (url, body) => request("DELETE", url, body),
  };

  /* el("div", {class: "x", text: "hi", onclick: fn}, [children]) */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* Shows a status line: kind is "info" | "error" | "ok" | "loading"; empty text hides it. */
  function say(node, text, kind) {
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
    node.className = "status status-" + (kind || "info");
  }

  /* Timestamps are UTC nanoseconds: integers beyond 2^53 arrive as decimal text (parseJson)
     and are converted with BigInt, so a time is never rounded to a neighbouring one. */
  function bigNs(value) {
    if (value === null || value === undefined || value === "") return null;
    if (typeof value === "bigint") return value;
    if (typeof value === "number") return Number.isFinite(value) ? BigInt(Math.trunc(value)) : null;
    if (/^-?\d+$/.test(String(value))) return BigInt(String(value));
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : BigInt(ms) * 1000000n;
  }

  /* Milliseconds (floored) of a nanosecond timestamp, exact, for Date. */
  function nsToMs(value) {
    const ns = bigNs(value);
    if (ns === null) return null;
    const ms = ns / 1000000n;
    return Number(ns < 0n && ms * 1000000n !== ns ? ms - 1n : ms);
  }

  /* A Number of nanoseconds (for arithmetic where nanoseconds do not matter). */
  function toNs(value) {
    const ns = bigNs(value);
    return ns === null ? null : Number(ns);
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  /* UTC "YYYY-MM-DD" of a nanosecond timestamp (or ISO string). */
  function nsToDate(value) {
    const ms = nsToMs(value);
    if (ms === null) return "";
    return new Date(ms).toISOString().slice(0, 10);
  }

  /* UTC "YYYY-MM-DD HH:MM[:SS]" of a nanosecond timestamp. */
  function nsToDateTime(value, seconds) {
    const ms = nsToMs(value);
    if (ms === null) return "";
    const d = new Date(ms);
    const text = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    return seconds ? text + ":" + pad(d.getUTCSeconds()) : text;
  }

  function dateToNs(text) {
    const ms = Date.parse(text + "T00:00:00Z");
    return Number.isNaN(ms) ? null : ms * 1e6;
  }

  /* One rule for every figure (as ostsite/formatting.py): ``digits`` places (2 by default),
     thousands separated; a value below 1 in size keeps two significant digits, so -0.003
     never reads "0.00"; trailing zeros past ``digits`` dropped; null/NaN "—". */
  const MAX_DECIMALS = 10;

  function decimalsFor(n, digits) {
    const size = Math.abs(n);
    if (size === 0 || size >= 1) return digits;
    return Math.min(MAX_DECIMALS, Math.max(digits, 1 - Math.floor(Math.log10(size))));
  }

  function num(value, digits) {
    if (value === null || value === undefined || value === "" || typeof value === "boolean") return "—";
    const n = Number(value);
    if (Number.isNaN(n)) return "—";
    if (!Number.isFinite(n)) return n > 0 ? "∞" : "-∞";
    const d = digits === undefined ? 2 : digits;
    const places = decimalsFor(n, d);
    let text = n.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
    if (places > d) {
      const [whole, fraction = ""] = text.split(".");
      const kept = fraction.replace(/0+$/, "").padEnd(d, "0");
      text = kept ? whole + "." + kept : whole;
    }
    if (text.startsWith("-") && !/[1-9]/.test(text)) text = text.slice(1);
    return text;
  }

  function signClass(value) {
    const n = Number(value);
    if (value === null || value === undefined || !Number.isFinite(n) || n === 0) return "";
    return n > 0 ? "pos" : "neg";
  }

  /* Seconds as "2 h 5 min", "3 min 20 s", "42 s" or "0.3 s" (as ostsite/formatting.py). */
  function seconds(value) {
    if (value === null || value === undefined || value === "") return "—";
    const total = Number(value);
    if (!Number.isFinite(total) || total < 0) return "—";
    if (total < 10) return (total % 1 ? total.toFixed(1) : total.toFixed(0)) + " s";
    const whole = Math.round(total);
    if (whole < 60) return whole + " s";
    const m = Math.floor(whole / 60), s = whole % 60;
    if (m < 60) return m + " min " + s + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  /* The time between two nanosecond timestamps, as ``seconds``; "" when one is unknown. */
  function duration(startNs, endNs) {
    const a = bigNs(startNs), b = bigNs(endNs);
    if (a === null || b === null) return "";
    const ns = b > a ? b - a : 0n;
    return seconds(Number(ns / 1000000n) / 1000);
  }

  function params(query) {
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== null && v !== undefined && v !== "") out.set(k, v);
    }
    const text = out.toString();
    return text ? "?" + text : "";
  }

  /* A short label for a run: "SMA Crossover · AAPL, MSFT · 2026-11-23 00:58". */
  function runLabel(run) {
    const config = run.config || {};
    const symbols = (config.symbols || []).slice(0, 3).join(", ") +
      ((config.symbols || []).length > 3 ? " +" + (config.symbols.length - 3) : "");
    return [run.name || config.strategy || run.run_id, symbols, nsToDateTime(run.ts_start)]
      .filter(Boolean).join(" · ");
  }

  const RTYPE_PERIOD = { 32: "Second", 33: "Minute", 34: "Hour", 35: "Day" };

  window.OST = {
    ApiError, api, errorText, parseJson, el, say, cookie, bigNs, nsToMs, toNs, nsToDate, nsToDateTime, dateToNs,
    num, signClass, seconds, duration, params, runLabel, RTYPE_PERIOD,
  };
})();
