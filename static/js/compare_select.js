/* History's "Compare selected" button (backtest page): enabled when two or more runs are
   ticked, it opens /compare?run_ids=... . It only reads the ticked boxes of #history, so it
   does not depend on how runs_panel.js draws the table. */
(function () {
  "use strict";
  const MIN_RUNS = 2;

  function ticked(table) {
    return [...table.querySelectorAll("tbody input[type=checkbox]:checked")].map((box) => box.value);
  }

  function start() {
    const table = document.getElementById("history");
    const button = document.getElementById("compare-runs");
    if (!table || !button) return;
    const update = () => {
      const ids = ticked(table);
      button.disabled = ids.length < MIN_RUNS;
      button.textContent = ids.length >= MIN_RUNS ? "Compare selected (" + ids.length + ")" : "Compare selected";
      button.title = ids.length < MIN_RUNS ? "Tick two or more runs to compare them" : "";
    };
    table.addEventListener("change", update);
    new MutationObserver(update).observe(table, { childList: true, subtree: true });
    button.addEventListener("click", () => {
      const ids = ticked(table);
      if (ids.length >= MIN_RUNS) window.location.href = "/compare?run_ids=" + ids.map(encodeURIComponent).join(",");
    });
    update();
  }

  start();
})();
