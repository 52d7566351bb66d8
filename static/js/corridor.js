// The culture-corridor screen shows one general branch at a time and moves on every
// data-seconds seconds; the page reloads itself (meta refresh) to pick up new results.
// Without JavaScript every general branch is shown, one under another.
(function () {
  "use strict";
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
