// The throughput chart: a hand-drawn SVG line over the last minute of stats ticks.
//
// The points live in a fixed-size array (oldest dropped as each tick arrives), and the
// path is rebuilt from it, so memory and DOM stay flat however long the page is open.

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

export class ThroughputChart {
  constructor(svg, axisLabels, { capacity }) {
    this.svg = svg;
    this.line = svg.querySelector(".chart-line");
    this.area = svg.querySelector(".chart-area");
    this.axisLabels = axisLabels; // [data-tick=0..4] elements, bottom to top
    this.capacity = capacity;
    this.points = [];
    this.max = 10;
  }

  push(value) {
    this.points.push(Math.max(0, Number(value) || 0));
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    this.draw();
  }

  get peak() {
    return this.points.reduce((a, b) => Math.max(a, b), 0);
  }

  draw() {
    const peak = this.peak;
    this.max = niceCeiling(Math.max(peak * 1.1, 10));
    const stepX = WIDTH / (this.capacity - 1);
    const offset = this.capacity - this.points.length; // new points enter at the right edge
    let line = "";
    this.points.forEach((value, i) => {
      const x = ((offset + i) * stepX).toFixed(1);
      const y = (HEIGHT - (value / this.max) * HEIGHT).toFixed(1);
      line += `${i ? "L" : "M"}${x} ${y}`;
    });
    this.line.setAttribute("d", line);
    if (this.points.length > 1) {
      const firstX = (offset * stepX).toFixed(1);
      this.area.setAttribute("d", `${line}L${WIDTH} ${HEIGHT}L${firstX} ${HEIGHT}Z`);
    }
    this.axisLabels.forEach((label) => {
      const tick = Number(label.dataset.tick);
      const value = (this.max * tick) / 4;
      label.textContent = value >= 1000 ? `${+(value / 1000).toFixed(1)}k` : `${+value.toFixed(1)}`;
    });
    this.svg.dataset.points = String(this.points.length);
    this.svg.dataset.latest = String(this.points[this.points.length - 1] ?? 0);
    this.svg.dataset.peak = String(peak);
  }
}
