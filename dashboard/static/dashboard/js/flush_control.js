// The flush's pause state in the queue-depth card, and for staff its button
// (POST /flush/pause, /flush/resume with the session's CSRF token). While paused the card
// shows how much the queue grew since the pause was first seen: ingest goes on accepting.

import { postJSON } from "./api.js";
import { format } from "./numbers.js";

export class FlushControl {
  constructor(form, card, growth) {
    this.form = form;
    this.card = card;
    this.growth = growth;
    this.pill = form.querySelector("#flush-state");
    this.button = form.querySelector("#flush-button"); // absent for those who may not press it
    this.paused = null;
    this.depthAtPause = null;
    this.busy = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.toggle();
    });
  }

  // Called with every stats_update.
  show(stats) {
    const paused = Boolean(stats.paused);
    if (paused && this.depthAtPause === null) this.depthAtPause = stats.queue_depth;
    if (!paused) this.depthAtPause = null;
    this.paused = paused;
    this.card.dataset.paused = String(paused);
    this.pill.dataset.state = paused ? "warn" : "ok";
    this.pill.querySelector(".pill-text").textContent = paused ? "Flush paused" : "Flushing";
    this.growth.hidden = !paused;
    if (paused) this.growth.textContent = ` · +${format(Math.max(0, stats.queue_depth - this.depthAtPause))} since paused`;
    if (this.button) {
      this.button.textContent = paused ? "Resume flush" : "Pause flush";
      this.button.setAttribute("aria-pressed", String(paused));
      this.button.disabled = this.busy;
    }
  }

  async toggle() {
    if (!this.button || this.paused === null || this.busy) return;
    this.busy = true;
    this.button.disabled = true;
    try {
      const csrf = { "X-CSRFToken": this.form.elements.csrfmiddlewaretoken.value };
      const { status, body } = await postJSON(this.paused ? "/flush/resume" : "/flush/pause", {}, csrf);
      if (status === 200 && body) this.show({ paused: body.paused, queue_depth: Number(this.card.querySelector("#queue-depth").dataset.value || 0) });
      else this.pill.querySelector(".pill-text").textContent = `Refused (${status})`;
    } catch {
      this.pill.querySelector(".pill-text").textContent = "Unreachable";
    } finally {
      this.busy = false;
      this.button.disabled = false;
    }
  }
}
