// Kiosk idle reset: after a quiet spell a countdown appears; if nobody touches the screen,
// the kiosk goes back to its welcome page and whatever was typed is gone (the page is
// replaced, and patient pages are served with Cache-Control: no-store). The reset also
// returns to the kiosk's default language. Every word shown comes from the page.
(function () {
  "use strict";
  var body = document.body;
  var idleSeconds = parseInt(body.dataset.idleSeconds, 10) || 90;
  var warningSeconds = Math.min(parseInt(body.dataset.warningSeconds, 10) || 20, idleSeconds);
  var home = body.dataset.home || "/kiosk";
  var resetTo = body.dataset.reset || home;  // the welcome page in the default language
  var languageChosen = body.hasAttribute("data-language-chosen");
  var dialog = document.getElementById("idle-warning");
  var count = document.getElementById("idle-count");
  var stay = document.getElementById("idle-stay");
  var quietSince = Date.now();
  var onWelcome = window.location.pathname === home;

  function reset() {
    document.querySelectorAll("form").forEach(function (form) { form.reset(); });
    window.location.replace(resetTo);
  }

  function touched() {
    quietSince = Date.now();
    if (!dialog.hidden) { dialog.hidden = true; }
  }

  ["pointerdown", "keydown", "input", "touchstart", "wheel"].forEach(function (name) {
    document.addEventListener(name, touched, { passive: true, capture: true });
  });
  stay.addEventListener("click", touched);

  setInterval(function () {
    var quiet = (Date.now() - quietSince) / 1000;
    if (onWelcome) {
      // Nothing typed to forget here, but the next patient gets the default language back.
      if (languageChosen && quiet >= idleSeconds) { window.location.replace(resetTo); return; }
      // The welcome page holds nothing to forget; reloading it now and then keeps its form tokens fresh.
      if (quiet >= idleSeconds * 10) { window.location.reload(); }
      return;
    }
    var left = Math.ceil(idleSeconds - quiet);
    if (left <= 0) { reset(); return; }
    if (left <= warningSeconds) {
      if (dialog.hidden) { dialog.hidden = false; stay.focus(); }
      count.textContent = String(left);
    }
  }, 250);
})();
