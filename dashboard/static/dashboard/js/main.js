// The dashboard page: wires the stats socket, the polls and the burst control to the
// figures, the chart, the gauge and the live feed. Each of those lives in its own module.

import { poll, postJSON } from "./api.js";
import { ThroughputChart } from "./chart.js";
import { Feed } from "./feed.js";
import { FlushControl } from "./flush_control.js";
import { Gauge } from "./gauge.js";
import { animateTo, format, setText } from "./numbers.js";
import { StatsSocket } from "./socket.js";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const $ = (id) => document.getElementById(id);
const clock = (date) => date.toLocaleTimeString("en-GB", { hour12: false });

const chart = new ThroughputChart($("throughput-chart"), [...document.querySelectorAll(".chart-axis [data-tick]")]);
const gauge = new Gauge($("throughput-gauge"), $("gauge-value"), $("gauge-max"));
const feed = new Feed($("feed"), $("feed-empty"), { size: config.feedSize });
const flushControl = new FlushControl($("flush-control"), $("queue-card"), $("queue-growth"));

// ------------------------------------------------------------------ /ws/stats
function showStats(s) {
  animateTo($("total-messages"), s.total_messages);
  animateTo($("queue-depth"), s.queue_depth);
  setText($("queue-length"), s.queue_length);
  setText($("in-flight"), s.in_flight);
  flushControl.show(s);
  animateTo($("throughput"), s.current_rps);
  animateTo($("total-batches"), s.total_batches);
  const causes = s.batches_by_cause;
  if (causes) setText($("batch-causes"), `full ${format(causes.full)} · timer ${format(causes.timer)} · recovered ${format(causes.recovered)}`);
  animateTo($("avg-batch-size"), s.avg_batch_size);
  animateTo($("p95-latency"), s.p95_latency_ms);
  setText($("p50-latency"), s.p50_latency_ms ?? 0);
  setText($("p99-latency"), s.p99_latency_ms);
  setText($("avg-latency"), s.avg_latency_ms, 1);
  animateTo($("dead-letters"), s.dead_letters);
  $("dead-letters-card").dataset.state = s.dead_letters > 0 ? "bad" : "ok";

  gauge.update(s.current_rps, chart.max);

  animateTo($("batch-progress"), s.batch_progress);
  setText($("batch-threshold"), s.batch_threshold);
  $("batch-fill").style.width = `${Math.min(100, s.batch_progress_percent)}%`;
  $("batch-bar").setAttribute("aria-valuenow", String(s.batch_progress));
  $("batch-bar").setAttribute("aria-valuemax", String(s.batch_threshold));
  setText($("batches-ready"), s.batches_ready);
  setText($("workers-count"), s.workers);
  if (s.oldest_message_age_s !== undefined) setText($("oldest-age"), s.oldest_message_age_s, 1);
  if (s.last_batch && s.last_batch.size) {
    const at = s.last_batch.completed_at ? ` · ${clock(new Date(s.last_batch.completed_at))}` : "";
    setText($("last-batch"), `last: ${format(s.last_batch.size)} messages${at}`);
  }
  setText($("last-update"), clock(new Date(s.timestamp)));
  const serverNow = Date.parse(s.timestamp);
  if (Number.isFinite(serverNow)) feed.serverOffsetMs = serverNow - Date.now();
}

function showBatch(event) {
  feed.markPersisted(event.ids || []);
  const at = event.worker_timestamp ? ` · ${clock(new Date(event.worker_timestamp))}` : "";
  setText($("last-batch"), `last: ${format(event.batch_size)} messages${at}`);
}

const BADGE_TEXT = {
  connecting: () => "Connecting…",
  connected: () => "Connected",
  reconnecting: (seconds) => (seconds > 0 ? `Reconnecting in ${seconds} s` : "Reconnecting…"),
};

function showConnection(state, seconds) {
  const badge = $("connection-badge");
  badge.dataset.state = state;
  document.body.dataset.connection = state;
  badge.querySelector(".badge-text").textContent = BADGE_TEXT[state](seconds);
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
new StatsSocket(`${scheme}//${location.host}/ws/stats`, {
  statsInterval: config.statsInterval,
  onState: showConnection,
  onMessage: (message) => {
    if (message.type === "stats_update") showStats(message);
    else if (message.type === "batch_persisted") showBatch(message);
  },
}).connect();

// ------------------------------------------------------------------ the chart's history
// Drawn from GET /stats/history, kept by the server: the chart starts filled and survives
// reloads and web restarts. The last minute is polled with /health and /messages (one
// more request per tab each pollInterval, which each web process's read cache absorbs);
// the longer ranges, whose drawing moves more slowly, less often.
const MINUTE_AVERAGES = "per second, minute averages";
const RANGES = {
  "1m": { everyMs: config.pollInterval * 1000, unit: "per second", over: "last minute", axis: ["−60 s", "−30 s", "now"] },
  "1h": { everyMs: 10000, unit: "per second", over: "last hour", axis: ["−60 min", "−30 min", "now"] },
  "24h": { everyMs: 60000, unit: MINUTE_AVERAGES, over: "last 24 hours", axis: ["−24 h", "−12 h", "now"] },
  "7d": { everyMs: 60000, unit: MINUTE_AVERAGES, over: "last 7 days", axis: ["−7 d", "−3.5 d", "now"] },
};
const RANGE_STORE = "msgbuffer.chartRange";
let stopHistory = () => {};

function showRange(name) {
  const range = RANGES[name];
  for (const button of $("chart-range").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === name));
  }
  setText($("chart-hint"), `messages persisted ${range.unit} · ${range.over}`);
  [...$("chart-xaxis").children].forEach((label, i) => (label.textContent = range.axis[i]));
  $("throughput-chart").setAttribute("aria-label", `Throughput over the ${range.over}`);
  try {
    localStorage.setItem(RANGE_STORE, name);
  } catch {
    // storage refused (private mode): the choice lasts for this page only
  }
  stopHistory();
  stopHistory = poll(`/stats/history?range=${name}`, range.everyMs, (status, body) => {
    if (status === 200 && body && Array.isArray(body.points)) chart.show(body);
  });
}

$("chart-range").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-range]");
  if (button) showRange(button.dataset.range);
});
let storedRange = null;
try {
  storedRange = localStorage.getItem(RANGE_STORE);
} catch {
  // no storage: the default range
}
showRange(RANGES[storedRange] ? storedRange : "1m");

// ------------------------------------------------------------------ polling
function setPill(id, state, text) {
  const pill = $(id);
  pill.dataset.state = state;
  if (text !== undefined) pill.querySelector(".pill-text").textContent = text;
}

poll("/health", config.pollInterval * 1000, (status, body) => {
  if (!body) {
    for (const id of ["health-redis", "health-database"]) setPill(id, "unknown");
    setPill("health-workers", "unknown", "Workers");
    return;
  }
  setPill("health-redis", body.redis === "ok" ? "ok" : "bad");
  setPill("health-database", body.database === "ok" ? "ok" : "bad");
  if (body.workers !== undefined) {
    setPill("health-workers", body.workers > 0 ? "ok" : "warn", `${body.workers} worker${body.workers === 1 ? "" : "s"}`);
  }
});

poll(`/messages?limit=${config.feedSize}`, config.pollInterval * 1000, (status, body) => {
  if (status === 200 && Array.isArray(body)) feed.mergeStored(body);
});

// ------------------------------------------------------------------ send burst
const form = $("burst-form");
const countInput = $("burst-count");
const presets = [...form.querySelectorAll(".presets button")];

function selectPreset(count) {
  for (const button of presets) button.classList.toggle("selected", Number(button.dataset.count) === count);
}

presets.forEach((button) =>
  button.addEventListener("click", () => {
    countInput.value = button.dataset.count;
    selectPreset(Number(button.dataset.count));
  }),
);
countInput.addEventListener("input", () => selectPreset(Number(countInput.value)));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("burst-result");
  const count = Number(countInput.value);
  if (!Number.isInteger(count) || count < 1 || count > config.maxBurst) {
    result.dataset.state = "bad";
    result.textContent = `Choose between 1 and ${format(config.maxBurst)} messages.`;
    return;
  }
  const button = $("burst-button");
  button.disabled = true;
  const started = performance.now();
  try {
    // Django's CSRF check: the token {% csrf_token %} put in the form (it works with an
    // HttpOnly csrftoken cookie too).
    const csrf = { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value };
    const { status, body } = await postJSON("/simulate", { count }, csrf);
    if (status === 202 && body) {
      feed.addQueued(body.message_ids || []);
      result.dataset.state = "ok";
      result.textContent = `Queued ${format(body.messages_count)} messages in ${format(performance.now() - started)} ms.`;
    } else {
      result.dataset.state = "bad";
      result.textContent = `Refused (${status}): ${(body && (body.message || body.error)) || "unexpected answer"}.`;
    }
  } catch {
    result.dataset.state = "bad";
    result.textContent = "The server could not be reached.";
  } finally {
    button.disabled = false;
  }
});
