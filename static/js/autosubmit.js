// Selects marked data-autosubmit send their form when changed (no inline handlers: the CSP
// forbids them). Without JavaScript the form's own button still works.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
