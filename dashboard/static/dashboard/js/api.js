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

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}
