// Staff pages: ask before irreversible clicks (forms marked data-confirm). No inline script (CSP).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
