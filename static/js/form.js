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
  // A question that shows only for some earlier answers (data-show-if): shown and hidden as
  // the patient answers, and the form's shown_keys kept in step, so the server does not send
  // the patient back to a question they have already seen. Without script the server does it.
  var conditionals = Array.from(document.querySelectorAll("[data-show-if]"));
  // `key` is a question's, or a matrix item's ("care.food": its matrix is "care").
  function chosen(form, key) {
    var holder = form.querySelector('[data-question="' + key.split(".")[0] + '"]');
    if (holder && holder.hidden) { return []; }  // a hidden question's answer does not count
    return Array.from(form.querySelectorAll('[name="q_' + key + '"]'))
      .filter(function (input) { return input.checked; })
      .map(function (input) { return input.value; });
  }
  function refresh(form) {
    var shownKeys = form.querySelector("#shown_keys");
    var keys = shownKeys ? shownKeys.value.split(" ").filter(Boolean) : [];
    conditionals.forEach(function (holder) {
      if (!form.contains(holder)) { return; }
      var wanted = holder.dataset.showValues.split(" ");
      var show = chosen(form, holder.dataset.showIf).some(function (v) { return wanted.indexOf(v) >= 0; });
      holder.hidden = !show;
      var key = holder.dataset.question;
      var at = keys.indexOf(key);
      if (show && at < 0) { keys.push(key); }
      if (!show && at >= 0) { keys.splice(at, 1); }
    });
    if (shownKeys) { shownKeys.value = keys.join(" "); }
  }
  if (conditionals.length) {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-show-if]")) { return; }
      form.addEventListener("change", function () { refresh(form); });
      refresh(form);
    });
  }
  var alert = document.getElementById("form-alert");
  if (alert) { alert.focus(); }
})();
