"""The dashboard's light and dark themes and its keyboard use (issue 11), in headless
Chromium as tests/test_dashboard_browser.py drives it: the theme follows
prefers-color-scheme until the toggle is used, the toggle's choice is remembered and
applied before the first paint, every visible text passes WCAG AA contrast in both
themes, and every control is reached with Tab and shows a focus ring."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.test_dashboard_browser import RECORD_CSP_VIOLATIONS, browser, until  # noqa: F401  (browser: the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = settings.VAR_DIR / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}

# The theme <html> carries when <body> is first parsed: the first paint can come no
# earlier, so a theme set by then never flashes the other one.
RECORD_THEME_AT_FIRST_BODY = """
new MutationObserver((changes, observer) => {
  if (document.body) {
    window.themeAtFirstBody = document.documentElement.dataset.theme || null;
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""

# WCAG 2.2 contrast of every visible text in the page: its computed colour (with the
# opacity of it and its ancestors) over its effective background, the background colours
# and gradient stops of it and its ancestors composited from the root down (each gradient
# stop is tried: the worst one counts). AA: 4.5:1, or 3:1 for large text (24 px, or
# 18.66 px bold).
TEXT_CONTRAST = """() => {
  const channel = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const ratio = (a, b) => {
    const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (high + 0.05) / (low + 0.05);
  };
  const parse = (text) => { const n = text.match(/[\\d.]+/g).map(Number); return [n[0], n[1], n[2], n.length > 3 ? n[3] : 1]; };
  const colours = (text) => (text.match(/rgba?\\([^)]*\\)/g) || []).map(parse);
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const chain = (element) => { const up = []; for (let e = element; e; e = e.parentElement) up.unshift(e); return up; };

  function backdrops(element) {
    let found = [[255, 255, 255, 1]];  // the canvas, until the root's background covers it
    for (const e of chain(element)) {
      const style = getComputedStyle(e);
      const colour = parse(style.backgroundColor);
      if (colour[3] > 0) found = found.map((under) => over(colour, under));
      const stops = colours(style.backgroundImage);
      if (stops.length) found = found.flatMap((under) => stops.map((stop) => over(stop, under)));
    }
    return found;
  }

  const failures = [];
  let checked = 0;
  for (const element of document.body.querySelectorAll("*")) {
    const ownText = [...element.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    const fieldText = element.matches("input:not([type=hidden])") && element.value;
    if (!ownText && !fieldText) continue;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility !== "visible" || box.width === 0 || box.height === 0) continue;
    const opacity = chain(element).reduce((product, e) => product * Number(getComputedStyle(e).opacity), 1);
    if (opacity === 0) continue;
    const [r, g, b, a] = parse(style.color);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const worst = Math.min(...backdrops(element).map((under) => ratio(over([r, g, b, a * opacity], under), under)));
    checked += 1;
    if (worst < needed) {
      const text = (fieldText || element.textContent).trim().replace(/\\s+/g, " ").slice(0, 40);
      const where = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "") +
        (element.classList.length ? "." + [...element.classList].join(".") : "");
      failures.push(`${where} "${text}": ${worst.toFixed(2)} < ${needed} (${style.color})`);
    }
  }
  return { checked, failures };
}"""

# The controls a keyboard user must reach, and the focus ring of the focused element:
# drawn (outline at least 2 px) and at least 3:1 against what it is drawn on (WCAG 1.4.11).
CONTROLS = """() => {
  window.probedControls = [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, [tabindex]")]
    .filter((e) => e.getClientRects().length && !e.disabled && e.tabIndex >= 0);
  return window.probedControls.map((e) => e.id || e.textContent.trim() || e.getAttribute("href"));
}"""
FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const channel = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const parse = (text) => text.match(/[\\d.]+/g).map(Number);
  let behind = [255, 255, 255];
  for (let e = element.parentElement; e; e = e.parentElement) {
    const colour = parse(getComputedStyle(e).backgroundColor);
    if (colour.length < 4 || colour[3] === 1) { behind = colour; break; }
  }
  const [high, low] = [luminance(parse(style.outlineColor)), luminance(behind)].sort((x, y) => y - x);
  return {
    index: window.probedControls.indexOf(element),
    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    contrast: (high + 0.05) / (low + 0.05),
  };
}"""


def open_dashboard(browser, web_port, *, color_scheme: str, context=None):  # noqa: F811
    """A page on the dashboard with the system's scheme set to `color_scheme`; its console
    errors, uncaught exceptions and CSP violations are kept in page.problems."""
    context = context or browser.new_context(color_scheme=color_scheme, reduced_motion="reduce", viewport=VIEWPORT)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: page.problems.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.add_init_script(RECORD_THEME_AT_FIRST_BODY)
    page.goto(f"http://127.0.0.1:{web_port}/")
    page.wait_for_selector('#connection-badge[data-state="connected"]', timeout=15_000)
    page.wait_for_selector('#health-redis[data-state="ok"]', timeout=10_000)
    return page


def theme(page) -> dict:
    return page.evaluate(
        """() => ({theme: document.documentElement.dataset.theme, atFirstBody: window.themeAtFirstBody,
                   pressed: document.getElementById("theme-toggle").getAttribute("aria-pressed"),
                   stored: localStorage.getItem("msgbuffer.theme")})"""
    )


def assert_text_passes_aa(page) -> None:
    contrast = page.evaluate(TEXT_CONTRAST)
    assert contrast["failures"] == []
    assert contrast["checked"] >= 60  # the cards, the pills, the feed, the burst control, the footer


def assert_quiet(page) -> None:
    assert page.problems == []
    assert page.evaluate("window.cspViolations") == []


def test_dashboard__both_themes__system_scheme_followed_toggle_remembered_and_text_passes_aa(browser, processes, web_port):  # noqa: F811
    processes.web(web_port)  # no worker yet: the burst's messages stay queued in the feed
    light = open_dashboard(browser, web_port, color_scheme="light")
    assert theme(light) == {"theme": "light", "atFirstBody": "light", "pressed": "false", "stored": None}

    light.click('.presets button[data-count="10"]')
    with light.expect_response("**/simulate") as response:
        light.click("#burst-button")
    burst_ids = response.value.json()["message_ids"]
    statuses = f"{burst_ids!r}.map(id => document.querySelector(`#feed li[data-id='${{id}}']`)?.dataset.status)"
    until(light, f"{statuses}.every(s => s === 'queued')", timeout_ms=5_000)
    assert_text_passes_aa(light)  # queued chips, the burst's answer, "0 workers"

    processes.worker()
    until(light, f"{statuses}.every(s => s === 'persisted')", timeout_ms=20_000)
    until(light, "document.querySelectorAll('#feed li[data-filled]').length >= 10", timeout_ms=10_000)
    assert_text_passes_aa(light)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    light.screenshot(path=str(SCREENSHOTS / "dashboard-light.png"), full_page=True)

    # The toggle, from the keyboard: dark, remembered, and still dark after a reload while
    # the system stays light, set before <body> was parsed.
    light.focus("#theme-toggle")
    light.keyboard.press("Enter")
    assert theme(light) == {"theme": "dark", "atFirstBody": "light", "pressed": "true", "stored": "dark"}
    assert_text_passes_aa(light)
    light.screenshot(path=str(SCREENSHOTS / "dashboard-dark.png"), full_page=True)
    # The stale look while the socket reconnects keeps the text at AA too.
    light.evaluate("document.body.dataset.connection = 'reconnecting'")
    assert_text_passes_aa(light)
    light.evaluate("document.body.dataset.connection = 'connected'")
    light.reload()
    light.wait_for_selector('#connection-badge[data-state="connected"]', timeout=15_000)
    assert theme(light) == {"theme": "dark", "atFirstBody": "dark", "pressed": "true", "stored": "dark"}
    assert_quiet(light)

    # A system in dark mode, nothing chosen: dark at once, and a change of the system's
    # scheme is followed while nothing is chosen.
    dark = open_dashboard(browser, web_port, color_scheme="dark")
    assert theme(dark) == {"theme": "dark", "atFirstBody": "dark", "pressed": "true", "stored": None}
    assert_text_passes_aa(dark)
    dark.emulate_media(color_scheme="light")
    until(dark, "document.documentElement.dataset.theme === 'light'", timeout_ms=2_000)
    assert dark.get_attribute("#theme-toggle", "aria-pressed") == "false"
    assert_quiet(dark)


def test_dashboard__keyboard__every_control_reached_with_tab_and_visibly_focused(browser, processes, web_port):  # noqa: F811
    processes.worker()
    processes.web(web_port)
    page = open_dashboard(browser, web_port, color_scheme="light")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        until(page, f"document.documentElement.dataset.theme === {scheme!r}", timeout_ms=2_000)
        controls = page.evaluate(CONTROLS)
        assert {"theme-toggle", "burst-count", "burst-button", "10", "2,000", "API docs", "Metrics"} <= set(controls)
        page.evaluate("document.activeElement.blur()")
        page.evaluate("window.scrollTo(0, 0)")
        reached = {}
        for _ in range(len(controls) + 2):  # one pass over the page, and a little more
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED)
            if focused["index"] >= 0:
                reached[controls[focused["index"]]] = (focused["ring"], focused["contrast"] >= 3)
        assert reached == dict.fromkeys(controls, (True, True)), scheme
    assert_quiet(page)
