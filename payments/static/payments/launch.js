// The launch page, the PCI agent page hand-off, and the session status panel.
// Loaded as a file (no inline scripts): the Content-Security-Policy forbids those.
(function () {
  "use strict";

  var NO_SECRET = "no secret — cannot launch";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // --- The launch form -------------------------------------------------------

  function setupLaunchForm(form) {
    var flow = $("#id_flow", form);
    var link = $("#id_link", form);
    var credential = $("#id_credential", form);
    var button = $("#launch-button", form);
    var confirmBox = $("#production-confirm", form);
    var summary = $("#launch-summary", form);

    function selectedOption(select) {
      return select && select.selectedIndex >= 0 ? select.options[select.selectedIndex] : null;
    }

    function filterLinks() {
      var wanted = flow.value;
      var visible = [];
      $all("option", link).forEach(function (option) {
        if (!option.value) { return; }
        var show = !wanted || option.dataset.flow === wanted;
        option.hidden = !show;
        option.disabled = !show;
        if (show) { visible.push(option); }
      });
      $all("optgroup", link).forEach(function (group) {
        group.hidden = $all("option", group).every(function (option) { return option.hidden; });
      });
      var current = selectedOption(link);
      if (current && current.value && current.hidden) { link.value = ""; }
      if (visible.length === 1) { link.value = visible[0].value; }
    }

    function filterCredentials(option) {
      var allowed = option && option.value ? (option.dataset.credentials || "").split(" ") : [];
      $all("option", credential).forEach(function (candidate) {
        if (!candidate.value) { return; }
        var show = allowed.indexOf(candidate.value) !== -1;
        candidate.hidden = !show;
        candidate.disabled = !show;
      });
      var current = selectedOption(credential);
      if (current && current.value && current.hidden) { credential.value = ""; }
      return allowed;
    }

    function setText(name, value) {
      $all('[data-summary="' + name + '"]', summary).forEach(function (node) { node.textContent = value; });
    }

    function updateSummary() {
      var option = selectedOption(link);
      var chosen = option && option.value ? option : null;
      var allowed = filterCredentials(chosen);
      $("#summary-empty", summary).hidden = !!chosen;
      $("#summary-details", summary).hidden = !chosen;
      var production = !!chosen && chosen.dataset.stage === "production";
      confirmBox.hidden = !production;
      summary.classList.toggle("production", production);
      button.classList.toggle("danger", production);
      button.disabled = !chosen;
      button.textContent = !chosen ? "Choose where to run it" : production ? "Launch on production" : "Launch session";
      if (!chosen) { return; }
      if (flow.value !== chosen.dataset.flow) { flow.value = chosen.dataset.flow; }
      ["account", "kind", "region", "configuration-id", "flow-number", "flow-name", "environment"]
        .forEach(function (name) { setText(name, chosen.dataset[camel(name)] || ""); });
      var stage = $('[data-summary="stage"]', summary);
      stage.textContent = chosen.dataset.stage;
      stage.className = "badge " + chosen.dataset.stage;
      var picked = selectedOption(credential);
      var label;
      if (picked && picked.value) {
        label = picked.dataset.label;
      } else if (allowed.length && allowed[0]) {
        var first = $('option[value="' + allowed[0] + '"]', credential);
        label = first ? first.dataset.label : "";
      }
      var secretless = chosen.dataset.secretless;
      setText("credential", label || (secretless ? secretless + ": " + NO_SECRET : "none allowed"));
      $('[data-summary="credential-note"]', summary).hidden = !(label && !(picked && picked.value));
    }

    function camel(name) {
      return name.replace(/-([a-z])/g, function (_, letter) { return letter.toUpperCase(); });
    }

    function updateKind() {
      var checked = $('input[name="kind"]:checked', form);
      var digital = checked && checked.value === "digital";
      $all(".digital-only", form).forEach(function (node) { node.hidden = !digital; });
      $all(".agent-assist-only", form).forEach(function (node) { node.hidden = digital; });
    }

    flow.addEventListener("change", function () { filterLinks(); updateSummary(); });
    link.addEventListener("change", updateSummary);
    credential.addEventListener("change", updateSummary);
    $all('input[name="kind"]', form).forEach(function (radio) { radio.addEventListener("change", updateKind); });
    form.addEventListener("submit", function (event) {
      if (button.disabled) { event.preventDefault(); return; }
      if (!link.value) { return; } // the server explains what is missing
      // One click, one launch: the server also refuses a form sent twice.
      window.setTimeout(function () { button.disabled = true; button.textContent = "Launching…"; }, 0);
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) { button.disabled = false; updateSummary(); }
    });

    var keep = link.value;
    filterLinks();
    if (keep && !link.value) { link.value = keep; }
    updateSummary();
    updateKind();
  }

  // --- The PCI provider's agent page -----------------------------------------

  function openAgentPage(agentForm) {
    // The documented way: POST the two tokens to iframeUrl with the iframe as target.
    agentForm.submit();
    // The tokens were needed once; do not leave them in the page.
    $all("input", agentForm).forEach(function (input) { input.value = ""; });
    agentForm.parentNode.removeChild(agentForm);
    var page = $("#session-page");
    if (page && window.history && window.history.replaceState) {
      // A reload now shows the session instead of sending the launch form again.
      window.history.replaceState(null, "", page.dataset.sessionUrl);
    }
  }

  // --- The status panel --------------------------------------------------------

  function followStatus(panel) {
    var url = panel.dataset.statusUrl;
    var started = Date.now();
    var failures = 0;

    function show(status) {
      ["headline", "sessionState", "decision", "reasonCode", "outcomeLabel", "message", "note"].forEach(function (name) {
        var node = $('[data-status="' + name + '"]', panel);
        if (!node) { return; }
        var value = status[name] || "";
        node.textContent = value || "–";
        if (name === "message" || name === "note") { node.hidden = !value; }
      });
      var decision = $('[data-status="decision"]', panel);
      decision.className = status.decision ? "badge " + status.decision.toLowerCase() : "";
      var outcome = $('[data-status="outcomeLabel"]', panel);
      outcome.className = "badge " + status.outcome;
      panel.className = panel.className.replace(/\boutcome-\S+/, "outcome-" + status.outcome);
      panel.classList.toggle("finished", !!status.finished);
      panel.classList.toggle("accepted", (status.decision || "").toUpperCase() === "ACCEPT");
      panel.dataset.finished = status.finished ? "true" : "false";
    }

    function delay() {
      var elapsed = Date.now() - started;
      if (elapsed > 30 * 60 * 1000) { return null; } // VCC purges results after 15 minutes
      var base = elapsed < 2 * 60 * 1000 ? 2000 : 10000;
      return base * Math.min(Math.pow(2, failures), 8);
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (status) {
          failures = 0;
          show(status);
          if (!status.finished) { schedule(); }
        })
        .catch(function () {
          failures += 1;
          var note = $('[data-status="note"]', panel);
          note.hidden = false;
          note.textContent = "Could not reach the registry just now; trying again.";
          schedule();
        });
    }

    function schedule() {
      var wait = delay();
      if (wait !== null) { window.setTimeout(poll, wait); }
    }

    if (panel.dataset.finished !== "true") { schedule(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = $("#launch-form");
    if (form) { setupLaunchForm(form); }
    var agentForm = $("#pci-agent-form");
    if (agentForm) { openAgentPage(agentForm); }
    var panel = $("#status-panel");
    if (panel) { followStatus(panel); }
  });
})();
