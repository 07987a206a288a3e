// The draft grid saves each corrected cell as soon as it is left (one field, with the draft's
// version), updates that row's flags and keeps the version of both forms current. Without
// JavaScript the "save corrections" button posts the whole grid; the server saves what changed.
(() => {
  const form = document.getElementById("draft-form");
  if (!form) return;
  const status = form.querySelector("[data-save-status]");
  const versions = () => document.querySelectorAll('input[name="version"]');
  const say = (text) => { if (status) status.textContent = text; };
  const messages = {
    saving: form.dataset.saving || "…",
    saved: form.dataset.saved || "✓",
    stale: form.dataset.stale || "!",
    failed: form.dataset.failed || "!",
  };

  function badges(cell, row) {
    if (!cell || !row) return;
    cell.replaceChildren();
    row.flags.forEach((flag) => {
      const badge = document.createElement("span");
      badge.className = `badge flag-${flag.code}`;
      badge.textContent = flag.label;
      cell.append(badge);
    });
    if (row.unknown_units.length) {
      const p = document.createElement("p");
      p.className = "unknown";
      row.unknown_units.forEach((name) => {
        const tag = document.createElement("span");
        tag.className = "tag unknown-unit";
        tag.textContent = name;
        p.append(tag);
      });
      cell.append(p);
    }
    const tr = cell.closest("tr");
    if (tr) tr.classList.toggle("flagged", row.flags.length > 0);
  }

  async function save(field) {
    const body = new FormData();
    body.append("csrf_token", form.querySelector('input[name="csrf_token"]').value);
    body.append("version", form.querySelector('input[name="version"]').value);
    body.append(field.name, field.value);
    say(messages.saving);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch (error) {
      say(messages.failed);
      return;
    }
    if (!response.ok) {
      // The server says why (a stale version, a value it refuses), in the user's language.
      let reason = response.status === 409 ? messages.stale : messages.failed;
      try {
        const answer = await response.json();
        if (answer.error) reason = answer.error;
      } catch (error) {
        // not JSON (a login page after the session ended): keep the general message
      }
      say(reason);
      field.setAttribute("aria-invalid", "true");
      return;
    }
    const answer = await response.json();
    versions().forEach((input) => { input.value = answer.version; });
    field.removeAttribute("aria-invalid");
    field.defaultValue = field.value;
    const tr = field.closest("tr.draft-item");
    if (tr && answer.row) badges(tr.querySelector(".draft-flags"), answer.row);
    say(messages.saved);
  }

  // One save at a time: each needs the version the previous one returned.
  let queue = Promise.resolve();
  form.addEventListener("change", (event) => {
    const field = event.target;
    if (!field.name || field.name === "version" || field.name === "csrf_token") return;
    queue = queue.then(() => save(field));
  });
})();
