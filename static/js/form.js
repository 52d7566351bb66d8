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
    }
    field.addEventListener("input", update);
    update();
  });
  var alert = document.getElementById("form-alert");
  if (alert) { alert.focus(); }
})();
