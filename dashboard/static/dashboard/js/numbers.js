// Number formatting and smooth count-up animation for the figures on the page.
//
// One requestAnimationFrame loop serves every animated figure; a new value re-targets a
// running animation instead of queueing another, so a hidden tab (no frames) piles
// nothing up and the shown value always converges on the latest one.

const formatters = new Map();

export function format(value, decimals = 0) {
  let formatter = formatters.get(decimals);
  if (!formatter) {
    formatter = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    formatters.set(decimals, formatter);
  }
  return formatter.format(value);
}

const DURATION_MS = 450;
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
const running = new Map(); // element -> {from, to, start, decimals}
let frame = 0;

const easeOut = (t) => 1 - Math.pow(1 - t, 3);

function step(now) {
  for (const [element, tween] of running) {
    const t = Math.min((now - tween.start) / DURATION_MS, 1);
    const value = tween.from + (tween.to - tween.from) * easeOut(t);
    element.textContent = format(value, tween.decimals);
    if (t >= 1) running.delete(element);
  }
  frame = running.size ? requestAnimationFrame(step) : 0;
}

// Show `value` in `element`, counting from what it shows now. The target is kept in
// data-value so that readers (and tests) see the true figure, not a frame of the tween.
export function animateTo(element, value) {
  if (!element || !Number.isFinite(value)) return;
  const decimals = Number(element.dataset.decimals || 0);
  const target = Number(value.toFixed(decimals));
  const previous = Number(element.dataset.value || 0);
  if (target === previous && !running.has(element)) return;
  element.dataset.value = String(target);
  if (reducedMotion || document.hidden) {
    running.delete(element);
    element.textContent = format(target, decimals);
    return;
  }
  const tween = running.get(element);
  const from = tween ? tween.from + (tween.to - tween.from) * easeOut(Math.min((performance.now() - tween.start) / DURATION_MS, 1)) : previous;
  running.set(element, { from, to: target, start: performance.now(), decimals });
  if (!frame) frame = requestAnimationFrame(step);
}

// Plain text update for secondary figures that need no animation.
export function setText(element, value, decimals = 0) {
  if (element) element.textContent = typeof value === "number" ? format(value, decimals) : value;
}
