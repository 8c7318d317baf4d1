// The JSON API calls the page makes: polling (never overlapping itself) and POSTs.

// Call `handle(status, body)` with GET `url` now and `everyMs` after each answer; a
// network failure reports status 0 and a null body.
export function poll(url, everyMs, handle) {
  const tick = async () => {
    try {
      const response = await fetch(url, {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: AbortSignal.timeout(Math.max(everyMs, 1000)),
      });
      handle(response.status, await response.json().catch(() => null));
    } catch {
      handle(0, null);
    } finally {
      setTimeout(tick, everyMs);
    }
  };
  tick();
}

// `headers` adds to the JSON ones, e.g. the X-CSRFToken that a POST made with the
// session cookie needs.
export async function postJSON(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}
