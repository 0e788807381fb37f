// The dashboard's one script: a file, as the Content-Security-Policy allows no inline script.
// It reads what it needs from data- attributes, so no page ever writes data into JavaScript.
"use strict";

// A form with data-confirm asks first; the question is text, never code.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question !== undefined && !window.confirm(question)) event.preventDefault();
});

// The overview keeps its counts fresh from the JSON API without reloading the page.
const overview = document.body.dataset.overview;
if (overview) {
  setInterval(async () => {
    const response = await fetch(overview, {credentials: "same-origin"});
    if (!response.ok) return;
    const data = await response.json();
    for (const q of data.queues) {
      const row = document.querySelector(`tr[data-queue="${CSS.escape(q.name)}"]`);
      if (!row) continue;
      const cells = row.querySelectorAll("td.n");
      [q.ready, q.delayed, q.in_flight, q.dead, q.unpublished].forEach((v, i) => { cells[i].textContent = v === null ? "?" : v; });
    }
    for (const [state, n] of Object.entries(data.states)) {
      const cell = document.querySelector(`td[data-state="${CSS.escape(state)}"]`);
      if (cell) cell.textContent = n;
    }
    document.getElementById("alive").textContent = data.workers.alive;
  }, 5000);
}
