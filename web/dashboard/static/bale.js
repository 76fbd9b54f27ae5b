// Small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: data-copy="#id" copies that element's text.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.querySelector(button.dataset.copy);
      if (!target) return;
      var text = target.textContent.trim();
      var done = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(target); });
      } else {
        select(target);
      }
    });
  });

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // Filter boxes: data-filter="selector of rows"; rows carry data-name.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var rows = document.querySelectorAll(input.dataset.filter);
    var none = document.getElementById("no-match");
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase().replace(/[-_.]+/g, "-");
      var shown = 0;
      rows.forEach(function (row) {
        var match = !q || row.dataset.name.indexOf(q) >= 0;
        row.hidden = !match;
        if (match) shown++;
      });
      if (none) none.hidden = shown > 0;
    });
  });

  // Provider switch: show only the fieldset of the chosen provider.
  document.querySelectorAll("select[data-switch]").forEach(function (select) {
    var name = select.dataset.switch;
    var update = function () {
      select.form.querySelectorAll("fieldset[data-" + name + "]").forEach(function (fs) {
        var on = fs.getAttribute("data-" + name) === select.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
    };
    select.addEventListener("change", update);
    update();
  });
});
