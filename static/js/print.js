// Buttons marked data-print print the page (no inline handlers: the CSP forbids them). The
// page's print CSS decides what the sheet shows; without JavaScript the browser's own Print
// menu gives the same sheet.
document.querySelectorAll("button[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
