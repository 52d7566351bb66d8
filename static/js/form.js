// Small comforts on the wish form: a live character count, and focus on the error summary.
(function () {
  "use strict";
  document.querySelectorAll("[data-counter]").forEach(function (field) {
    var max = parseInt(field.dataset.counter, 10);
    var out = document.querySelector('[data-counter-for="' + field.id + '"]');
    if (!out) { return; }
    function update() {
      var used = Array.from(field.value).length;
      out.textContent = used + " / " + max;
      out.classList.toggle("is-over", used > max);  // nothing is cut: the server explains
    }
    field.addEventListener("input", update);
    update();
  });
  // One press sends a form once; the server would keep a second copy out anyway.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
  var alert = document.getElementById("form-alert");
  if (alert) { alert.focus(); }
})();
