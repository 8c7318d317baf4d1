// The JSON API calls the page makes: polling (never overlapping itself) and POSTs.

// Call `handle(status, body)` with GET `url` now and `everyMs` after each answer; a
// network failure reports status 0 and a null body. Returns a function that stops it
// (an answer still on its way is then dropped).
export function poll(url, everyMs, handle) {
  let stopped = false;
  let timer;
  const tick = async () => {
    let status = 0;
    let body = null;
    try {
      const response = await fetch(url, {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: AbortSignal.timeout(Math.max(everyMs, 1000)),
      });
      status = response.status;
      body = await response.json().catch(() => null);
    } catch {
      // status 0, body null: the server could not be reached
    }
    if (stopped) return;
    try {
      handle(status, body);
    } finally {
      timer = setTimeout(tick, everyMs);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
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
