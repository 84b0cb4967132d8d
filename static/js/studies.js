/* The studies list: status, progress and best of each study (polled while any is active),
   delete selected. Talks to /api/studies. */
(function () {
  "use strict";
  const { api, el, say, num, nsToDateTime } = window.OST;
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running"]);
  let timer = null;
  const selected = new Set();

  function progressCell(study) {
    const p = study.progress;
    const bar = el("progress", { max: 100, value: p.percent, "aria-label": "Trials done" });
    const text = p.done.toLocaleString("en-US") + " / " + p.total.toLocaleString("en-US") +
      (p.failed ? " (" + p.failed + " failed)" : "");
    return el("td", { class: "study-progress-cell" }, [bar, " ", el("span", { class: "small", text: text })]);
  }

  function row(study) {
    const box = el("input", { type: "checkbox", value: study.study_id, checked: selected.has(study.study_id),
      "aria-label": "Select study " + study.name });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(study.study_id); else selected.delete(study.study_id);
      $("delete-studies").disabled = selected.size === 0;
    });
    const best = study.best ? num(study.best.value, 2) : "—";
    return el("tr", { dataset: { studyId: study.study_id } }, [
      el("td", {}, [box]),
      el("td", {}, [el("a", { href: "/studies/" + study.study_id, class: "run-name", text: study.name }),
        el("div", { class: "muted small", text: study.strategy + " · " + (study.symbols || []).join(", ") })]),
      el("td", {}, [el("span", { class: "badge badge-" + badgeOf(study.status), text: study.status })]),
      progressCell(study),
      el("td", { class: "wide-only small", text: study.sampler + " · " + study.objective + " (" +
        (study.direction === "maximize" ? "max" : "min") + ")" }),
      el("td", { class: "num", text: best }),
      el("td", { class: "wide-only small", text: nsToDateTime(study.ts_created) }),
    ]);
  }

  function badgeOf(status) {
    return status === "completed" ? "completed" : status === "failed" ? "failed" :
      status === "cancelled" ? "cancelled" : status === "running" ? "running" : "queued";
  }

  async function load() {
    clearTimeout(timer);
    const body = $("studies").querySelector("tbody");
    try {
      const data = await api.get("/api/studies?limit=200");
      const studies = data.studies || [];
      body.replaceChildren();
      if (!studies.length) {
        body.append(el("tr", {}, [el("td", { colspan: 7, class: "muted",
          text: "No studies yet: press Optimise on the Backtest page to start one." })]));
      }
      for (const study of studies) body.append(row(study));
      for (const id of [...selected]) if (!studies.some((s) => s.study_id === id)) selected.delete(id);
      $("delete-studies").disabled = selected.size === 0;
      if (studies.some((s) => ACTIVE.has(s.status))) timer = setTimeout(load, 2000);
    } catch (err) {
      say($("studies-status"), err.message, "error");
      timer = setTimeout(load, 5000);
    }
  }

  async function deleteSelected() {
    const ids = [...selected];
    if (!ids.length || !window.confirm("Delete " + ids.length + " study(ies), their trials and the runs opened from them?")) return;
    try {
      const data = await api.del("/api/studies", { study_ids: ids });
      say($("studies-status"), "Deleted " + data.deleted + " study(ies).", "ok");
      selected.clear();
      load();
    } catch (err) {
      say($("studies-status"), err.message, "error");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("delete-studies").addEventListener("click", deleteSelected);
    $("select-all-studies").addEventListener("change", (event) => {
      document.querySelectorAll("#studies tbody input[type=checkbox]").forEach((box) => {
        box.checked = event.target.checked;
        if (box.checked) selected.add(box.value); else selected.delete(box.value);
      });
      $("delete-studies").disabled = selected.size === 0;
    });
    load();
  });
})();
