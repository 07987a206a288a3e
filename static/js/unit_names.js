// Unit name fields hold several names ("市发改委、市财政局"). A <datalist> suggests for the
// whole text, so after a separator it would suggest nothing: while such a field is edited, the
// suggestions are rewritten as "what is typed so far + name". Without JavaScript the list still
// suggests the first name. Brackets are skipped, as on the server: 各县(市、区)人民政府 is one name.
(() => {
  const SEPARATORS = "、，,;；";
  const OPEN = "(（[【〔「“《";
  const CLOSE = ")）]】〕」”》";

  function prefixOf(text) {
    let depth = 0;
    let cut = 0;
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (OPEN.includes(ch)) depth += 1;
      else if (CLOSE.includes(ch)) depth = Math.max(0, depth - 1);
      else if (depth === 0 && SEPARATORS.includes(ch)) cut = i + 1;
    }
    return text.slice(0, cut);
  }

  document.querySelectorAll("input[data-unit-names]").forEach((input) => {
    const list = document.getElementById(input.getAttribute("list"));
    if (!list) return;
    const names = Array.from(list.options).map((o) => ({ value: o.value, label: o.label }));
    let shown = null;
    const refresh = () => {
      const prefix = prefixOf(input.value);
      if (prefix === shown) return;
      shown = prefix;
      list.replaceChildren(
        ...names.map((n) => {
          const option = document.createElement("option");
          option.value = prefix + n.value;
          if (n.label && n.label !== n.value) option.label = n.label;
          return option;
        }),
      );
    };
    input.addEventListener("focus", () => { shown = null; refresh(); });
    input.addEventListener("input", refresh);
  });
})();
