// The throughput chart: a hand-drawn SVG line over one range of GET /stats/history.
//
// Each answer replaces the whole series (its buckets laid out densely, a bucket with no
// batch drawn as 0), so memory and DOM stay flat however long the page is open.

const WIDTH = 600; // the SVG's viewBox; CSS stretches it to the card
const HEIGHT = 200;

// The smallest "nice" axis maximum (1, 2, 2.5, 5 × 10^n) at or above `value`.
export function niceCeiling(value) {
  if (!(value > 0)) return 10;
  const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

// Messages persisted per second in each bucket of a /stats/history answer, oldest first.
// The current bucket is still filling: a current minute is averaged over the seconds it
// has had so far; a current second is left out (it would always draw as a dip).
export function persistedPerSecond(history) {
  const resolution = history.resolution_s;
  const buckets = Math.round((history.end - history.start) / resolution);
  const count = resolution > 1 ? buckets : buckets - 1;
  const current = history.end - resolution;
  const values = new Array(Math.max(count, 0)).fill(0);
  for (const point of history.points) {
    const index = Math.floor((point.t - history.start) / resolution);
    const seconds = point.t === current ? Math.min(Math.max(history.now - current + 1, 1), resolution) : resolution;
    if (index >= 0 && index < count) values[index] = point.persisted / seconds;
  }
  return values;
}

export class ThroughputChart {
  constructor(svg, axisLabels) {
    this.svg = svg;
    this.line = svg.querySelector(".chart-line");
    this.area = svg.querySelector(".chart-area");
    this.axisLabels = axisLabels; // [data-tick=0..4] elements, bottom to top
    this.values = [];
    this.max = 10;
  }

  // Draw one /stats/history answer.
  show(history) {
    this.values = persistedPerSecond(history);
    this.svg.dataset.range = history.range;
    this.svg.dataset.points = String(history.points.length); // buckets that had a batch
    this.draw();
  }

  get peak() {
    return this.values.reduce((a, b) => Math.max(a, b), 0);
  }

  draw() {
    const peak = this.peak;
    this.max = niceCeiling(Math.max(peak * 1.1, 10));
    const stepX = WIDTH / Math.max(this.values.length - 1, 1);
    let line = "";
    this.values.forEach((value, i) => {
      const x = (i * stepX).toFixed(1);
      const y = (HEIGHT - (value / this.max) * HEIGHT).toFixed(1);
      line += `${i ? "L" : "M"}${x} ${y}`;
    });
    this.line.setAttribute("d", line);
    this.area.setAttribute("d", this.values.length > 1 ? `${line}L${WIDTH} ${HEIGHT}L0 ${HEIGHT}Z` : "");
    this.axisLabels.forEach((label) => {
      const tick = Number(label.dataset.tick);
      const value = (this.max * tick) / 4;
      label.textContent = value >= 1000 ? `${+(value / 1000).toFixed(1)}k` : `${+value.toFixed(1)}`;
    });
    this.svg.dataset.latest = String(this.values[this.values.length - 1] ?? 0);
    this.svg.dataset.peak = String(peak);
  }
}
