/* The portal page's form (pay/page.html, pay/_form.html). Progressive enhancement only:
   without it every form still works. "Select all", and the running total of the ticked
   invoices per currency (currencies are never added together). A file, not an inline script,
   so that the page's Content-Security-Policy can refuse all inline script. */
(function () {
  function money(minor, currency, places) {
    var major = minor / Math.pow(10, places);
    return currency + " " + major.toLocaleString("en-GB", {minimumFractionDigits: places, maximumFractionDigits: places});
  }
  function refresh(root) {
    var form = document.getElementById("portal-form");
    if (!form) return;
    form.querySelectorAll("[data-needs-script]").forEach(function (el) { el.hidden = false; });
    var boxes = form.querySelectorAll("input[name=invoice]");
    var ticked = form.querySelectorAll("input[name=invoice]:checked");
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && ticked.length === boxes.length;
      all.indeterminate = ticked.length > 0 && ticked.length < boxes.length;
    }
    var sums = {}, places = {}, order = [];
    ticked.forEach(function (box) {
      var c = box.dataset.currency;
      if (!(c in sums)) { sums[c] = 0; places[c] = Number(box.dataset.places); order.push(c); }
      sums[c] += Number(box.dataset.amount);
    });
    order.sort();
    form.querySelectorAll("[data-selection-summary]").forEach(function (out) {
      out.textContent = ticked.length === 0
        ? "No invoices ticked yet."
        : (ticked.length === 1 ? "1 invoice ticked: " : ticked.length + " invoices ticked: ")
          + order.map(function (c) { return money(sums[c], c, places[c]); }).join(" and ");
    });
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.closest || !target.closest("#portal-form")) return;
    if (target.matches("[data-select-all]")) {
      target.closest("#portal-form").querySelectorAll("input[name=invoice]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    refresh();
  });
  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:load", refresh);
})();
