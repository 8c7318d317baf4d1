// The /ws/stats connection: reconnects by itself, with backoff, after any drop.
//
// The first retry comes after about 3 s, then 6, 12 … up to 30 s, each with a little
// jitter so that a restarted server is not hit by every open page at the same instant.
// A watchdog closes a socket that has gone quiet (stats arrive every tick, so silence
// means a half-open connection the browser has not noticed yet).

const FIRST_RETRY_MS = 3000;
const MAX_RETRY_MS = 30000;
const JITTER = 0.1;
const PING_EVERY_MS = 15000;

export class StatsSocket {
  constructor(url, { statsInterval, onMessage, onState }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.silenceLimitMs = Math.max(5000, statsInterval * 1000 * 10);
    this.retryMs = FIRST_RETRY_MS;
    this.socket = null;
    this.timers = {};
  }

  connect() {
    this.clear("retry", "countdown");
    this.onState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retryMs = FIRST_RETRY_MS;
      this.onState("connected");
      this.heard();
      this.timers.ping = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      this.heard();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.clear("ping", "watchdog");
      this.scheduleRetry();
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  heard() {
    this.clear("watchdog");
    this.timers.watchdog = setTimeout(() => this.socket && this.socket.close(), this.silenceLimitMs);
  }

  scheduleRetry() {
    const delay = Math.round(this.retryMs * (1 + (Math.random() * 2 - 1) * JITTER));
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    const due = Date.now() + delay;
    const tell = () => this.onState("reconnecting", Math.max(0, Math.ceil((due - Date.now()) / 1000)));
    tell();
    this.timers.countdown = setInterval(tell, 1000);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  clear(...names) {
    for (const name of names) {
      clearTimeout(this.timers[name]);
      clearInterval(this.timers[name]);
      delete this.timers[name];
    }
  }
}
