// Every form's error summary (templates/payments/_error_summary.html): after a refused submit,
// move the focus (and so the view) to it, and let each of its links focus its field.
// Loaded as a file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  function fieldFor(link) {
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    var target = id ? document.getElementById(id) : null;
    if (!target || target.matches("div")) {
      // A radio group's label points nowhere: focus its first choice.
      target = document.querySelector('[name="' + link.dataset.field + '"]') || target;
    }
    return target;
  }

  function openAround(node) {
    for (var parent = node.parentElement; parent; parent = parent.parentElement) {
      if (parent.tagName === "DETAILS") { parent.open = true; }
    }
  }

  function setup() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    Array.prototype.forEach.call(summary.querySelectorAll("a[data-field]"), function (link) {
      link.addEventListener("click", function (event) {
        var field = fieldFor(link);
        if (!field) { return; }
        event.preventDefault();
        openAround(field);
        var box = field.closest(".field") || field;
        box.scrollIntoView({ block: "center" });
        field.focus({ preventScroll: true });
      });
    });
    // Focusing scrolls it into view only when it is not already: the page's heading stays.
    summary.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
