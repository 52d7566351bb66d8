// The question editor: only the fields of the chosen question type; option rows added,
// removed and moved in place; and the patient's page previewed beside the form as the author
// types (nothing saved). Without this script the same buttons work through the server.
(function () {
  "use strict";
  var form = document.getElementById("question-editor");
  if (!form) { return; }
  var type = form.elements.type;
  var rows = form.querySelector("tbody[data-rows]");

  function showForType() {
    form.querySelectorAll("[data-for-types]").forEach(function (part) {
      part.hidden = part.dataset.forTypes.split(" ").indexOf(type.value) < 0;
    });
  }
  type.addEventListener("change", showForType);
  showForType();

  function renumber() {
    Array.prototype.forEach.call(rows.rows, function (row, index) {
      row.querySelectorAll("input").forEach(function (input) {
        input.name = input.name.replace(/^options-\d+-/, "options-" + index + "-");
        input.id = input.name;
        var label = input.getAttribute("aria-label");
        if (label) { input.setAttribute("aria-label", label.replace(/\d+/, String(index + 1))); }
      });
      row.querySelectorAll("button[name=row_action]").forEach(function (button) {
        button.value = button.value.replace(/\d+$/, String(index));
      });
    });
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=row_action]");
    var found = button && /^options-(add|remove|up|down)(?:-(\d+))?$/.exec(button.value);
    if (!found || !rows.rows.length) { return; }  // no row to copy: the server adds one
    event.preventDefault();
    var row = rows.rows[Number(found[2] || 0)];
    if (found[1] === "add") {
      row = rows.rows[rows.rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      rows.appendChild(row);
    } else if (found[1] === "remove") {
      row.remove();
    } else if (found[1] === "up" && row.previousElementSibling) {
      rows.insertBefore(row, row.previousElementSibling);
    } else if (found[1] === "down" && row.nextElementSibling) {
      rows.insertBefore(row.nextElementSibling, row);
    }
    renumber();
    if (found[1] === "add") { row.querySelector("input").focus(); }
    schedule();
  });

  // The preview: each frame shows the answer of the latest request made for it.
  var frames = document.querySelectorAll("iframe[data-device]");
  var timer = null;
  var asked = 0;

  function language() {
    var chosen = document.querySelector("input[name=preview_lang]:checked");
    return chosen ? chosen.value : "zh_Hans";
  }

  function refresh() {
    var data = new FormData(form);
    data.delete("row_action");
    var key = form.elements.key.value;
    frames.forEach(function (frame) {
      var url = form.dataset.preview + (form.dataset.preview.indexOf("?") < 0 ? "?" : "&") +
        "device=" + frame.dataset.device + "&lang=" + language();
      var mine = ++asked;
      frame.dataset.asked = String(mine);
      fetch(url, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (frame.dataset.asked !== String(mine)) { return; }
          frame.onload = function () {
            var question = key && frame.contentDocument.getElementById("q_" + key);
            if (question) { question.scrollIntoView({ block: "center" }); }
          };
          frame.srcdoc = html;
        })
        .catch(function () { /* offline a moment: the next change tries again */ });
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  if (frames.length) {
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    document.querySelectorAll("input[name=preview_lang]").forEach(function (choice) {
      choice.addEventListener("change", refresh);
    });
    form.querySelectorAll("[data-preview-button]").forEach(function (button) {
      button.addEventListener("click", function (event) { event.preventDefault(); refresh(); });
    });
    refresh();
  }
})();
