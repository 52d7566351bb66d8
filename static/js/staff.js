// Staff pages: ask before irreversible clicks (forms marked data-confirm). No inline script (CSP).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Filters folded away on a phone are simply open on a desk screen.
if (window.matchMedia("(min-width: 641px)").matches) {
  for (const details of document.querySelectorAll("details[data-open-wide]")) details.open = true;
}
