// A "select all" checkbox (data-select-all="<name>") ticks or clears every checkbox of that name
// on the page, and shows ticked, clear or mixed as they are ticked one by one. A real checkbox,
// so the keyboard works as everywhere (Tab to it, Space). Its label is hidden in the page and
// shown here: without JavaScript there is nothing it could do. No inline handlers (the CSP).
document.querySelectorAll("input[type=checkbox][data-select-all]").forEach((all) => {
  const name = all.dataset.selectAll;
  const boxes = () =>
    Array.from(document.querySelectorAll("input[type=checkbox]")).filter(
      (box) => box.name === name,
    );
  const sync = () => {
    const ticked = boxes().filter((box) => box.checked).length;
    all.checked = ticked > 0 && ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
  };
  all.addEventListener("change", () => {
    boxes().forEach((box) => {
      box.checked = all.checked;
    });
    sync();
  });
  boxes().forEach((box) => box.addEventListener("change", sync));
  const hidden = all.closest("[hidden]");
  if (hidden) hidden.hidden = false;
  sync();
});
