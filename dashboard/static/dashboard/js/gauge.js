// The throughput gauge: a half-circle arc filled in proportion to msg/s.
// The arc has pathLength=100, so the filled share is simply its dash length.

import { animateTo, format } from "./numbers.js";

export class Gauge {
  constructor(svg, readout, maxLabel) {
    this.svg = svg;
    this.arc = svg.querySelector(".gauge-value");
    this.readout = readout;
    this.maxLabel = maxLabel;
  }

  // `max` follows the chart's axis so the gauge and the chart read on one scale.
  update(value, max) {
    const share = Math.max(0, Math.min(value / max, 1)) * 100;
    this.arc.setAttribute("stroke-dasharray", `${share.toFixed(2)} 100`);
    this.arc.style.opacity = share > 0 ? "1" : "0";
    this.svg.dataset.value = String(value);
    this.svg.dataset.max = String(max);
    this.maxLabel.textContent = format(max);
    animateTo(this.readout, value);
  }
}
