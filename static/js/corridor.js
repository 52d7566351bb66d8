// The culture-corridor screen shows one general branch at a time and moves on every
// data-seconds seconds; after data-reload-seconds it reloads itself to pick up new results,
// but not while someone is using it (a meta refresh could not wait: WCAG 2.2.1).
// Without JavaScript every general branch is shown, one under another.
(function () {
  "use strict";
  const screen = document.querySelector("[data-reload-seconds]");
  if (screen) {
    let usedAt = 0;
    ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, function () { usedAt = Date.now(); },
                                { passive: true, capture: true });
    });
    const reloadWhenUnused = function () {
      if (Date.now() - usedAt < 60000) { window.setTimeout(reloadWhenUnused, 10000); return; }
      window.location.reload();
    };
    const after = Math.max(60, parseInt(screen.dataset.reloadSeconds, 10) || 300);
    window.setTimeout(reloadWhenUnused, after * 1000);
  }
  const box = document.querySelector("[data-corridor]");
  if (!box) return;
  const slides = Array.from(box.querySelectorAll(".corridor-slide"));
  const dots = Array.from(document.querySelectorAll(".corridor-dots li"));
  if (slides.length < 2) return;
  const seconds = Math.max(3, parseInt(box.dataset.seconds, 10) || 15);
  let shown = 0;
  function show(index) {
    slides.forEach(function (slide, i) { slide.classList.toggle("is-shown", i === index); });
    dots.forEach(function (dot, i) { dot.classList.toggle("is-shown", i === index); });
  }
  box.classList.add("is-cycling");
  show(shown);
  window.setInterval(function () {
    shown = (shown + 1) % slides.length;
    show(shown);
  }, seconds * 1000);
})();
