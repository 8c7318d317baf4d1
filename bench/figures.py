"""The figures of issue 5, one function each: `run(system, opts, ctx) -> {metric: value}`.

Every run starts from an empty Redis database and table, starts the processes it needs,
and stops them before returning, so runs of msgbuffer and of the peer can alternate.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from . import environment as env
from . import loadgen
from .systems import CONTENT, Msgbuffer, Peer, System, wait_until

ONE_MESSAGE = orjson.dumps({"user_id": 42, "channel_id": 7, "content": CONTENT}).decode()
# Without wrk2, "half the peer's max rate" needs the peer's max: from this session's ingest
# figure when the peer ran, else the middle of the peer README's 2.4k-3.0k req/s.
PEER_MAX_RATE_DEFAULT = 2700.0


@dataclass
class Options:
    quick: bool = False
    pairs: int = 3
    slow_pairs: int = 1
    ws_clients: int = 1000
    soak_seconds: float = 600.0
    soak_retention_minutes: float = 10.0
    drain_workers: int = 1

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full


@dataclass
class Context:
    """What one figure learns that a later one needs (the peer's max rate)."""

    peer_max_rps: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool
    target: str = ""
    # (msgbuffer value, median ratio msgbuffer/peer or None) -> met?
    check: Callable[[float, float | None], bool] | None = None


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    how: str
    metrics: tuple  # empty: the metrics are whatever the run returns (ws)
    with_peer: bool = True
    slow: bool = False
    default: bool = True


def _accepted(system: System, result: dict) -> int:
    """2xx answers of a paced run; a run where most requests failed measured nothing."""
    accepted = result["statuses"].get(str(system.accepted_status), 0)
    if accepted < 0.9 * result["sent"]:
        raise RuntimeError(
            f"{system.name} accepted {accepted} of {result['sent']} requests ({result['statuses']}); "
            f"see its web log in {env.LOG_DIR}"
        )
    return accepted


def _fresh(system: System) -> None:
    system.stop_all()
    system.reset()


class _PeakRss:
    """Samples the RSS of some processes every 0.2 s in a thread; `.peak[name]` in MiB."""

    def __init__(self, **processes):
        self.processes = processes
        self.peak = dict.fromkeys(processes, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for name, process in self.processes.items():
                try:
                    self.peak[name] = max(self.peak[name], process.rss_mib())
                except Exception:
                    pass
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------
# POST /messages
# ---------------------------------------------------------------------------
def ingest(system: System, opts: Options, ctx: Context) -> dict:
    _fresh(system)
    system.start_web()
    system.start_worker()
    result = loadgen.wrk_post(system.url + "/messages", seconds=opts.seconds(10, 5))
    system.stop_all()
    if result["non2xx"] > 0.1 * result["requests"]:
        raise RuntimeError(f"{system.name}: {result['non2xx']:.0f} of {result['requests']:.0f} answers were not 2xx")
    if isinstance(system, Peer):
        ctx.peer_max_rps.append(result["rps"])
    return {"rps": result["rps"], "p99_ms": result["p99_ms"], "non2xx": result["non2xx"]}


def ingest_at_rate(system: System, opts: Options, ctx: Context) -> dict:
    rate = (statistics.median(ctx.peer_max_rps) if ctx.peer_max_rps else PEER_MAX_RATE_DEFAULT) / 2
    seconds = opts.seconds(10, 5)
    _fresh(system)
    system.start_web()
    system.start_worker()
    gen = loadgen.paced_post(system.url + "/messages", rate=rate, seconds=seconds, body=ONE_MESSAGE, connections=16)
    result = loadgen.paced_result(gen, timeout=seconds + 60)
    system.stop_all()
    ok = _accepted(system, result)
    return {"rate": rate, "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "not_accepted": result["sent"] - ok}


def bulk(system: System, opts: Options, ctx: Context) -> dict:
    body = orjson.dumps(
        {"messages": [{"user_id": 42, "channel_id": 7, "content": f"{CONTENT} {i}"} for i in range(1000)]}
    ).decode()
    script = loadgen.wrk_body_script(body)
    _fresh(system)
    system.start_web()  # no worker: this measures what the web tier accepts
    try:
        result = loadgen.wrk_post(system.url + "/messages/bulk", seconds=opts.seconds(8, 4), connections=4, script=script)
    finally:
        script.unlink()
        system.stop_all()
    accepted = system.queue_length()
    system.reset()
    if result["ok"] == 0:
        raise RuntimeError(f"no bulk request was accepted ({result['non2xx']:.0f} non-2xx)")
    return {"messages_s": result["ok"] * 1000 / opts.seconds(8, 4), "p99_ms": result["p99_ms"], "queued": accepted}


# ---------------------------------------------------------------------------
# Worker drain, and raw psycopg into the same table
# ---------------------------------------------------------------------------
DRAIN_MESSAGES = 100_000


def _raw_insert_rate(system: System, count: int) -> float:
    """psycopg executemany, 50 rows per transaction, into the system's own table."""
    now = datetime.now(UTC)
    if isinstance(system, Msgbuffer):
        sql = "INSERT INTO messaging_message (message_id, user_id, channel_id, content, created_at) VALUES (%s, %s, %s, %s, %s)"
        rows = [(uuid.uuid4(), 42, 7, CONTENT, now) for _ in range(count)]
    else:
        sql = "INSERT INTO messages (user_id, channel_id, content, created_at) VALUES (%s, %s, %s, %s)"
        rows = [(42, 7, CONTENT, now) for _ in range(count)]
    with psycopg.connect(env.dsn(system.database)) as conn:
        started = time.perf_counter()
        for start in range(0, count, 50):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows[start : start + 50])
        elapsed = time.perf_counter() - started
        conn.execute(f"TRUNCATE {system.table}")
        conn.commit()
    return count / elapsed


def drain(system: System, opts: Options, ctx: Context) -> dict:
    count = 20_000 if opts.quick else DRAIN_MESSAGES
    _fresh(system)
    if isinstance(system, Peer):  # the peer's worker creates its table on start
        system.start_worker()
        system.stop_all()
    raw = _raw_insert_rate(system, count)
    system.reset()
    system.queue_raw(count)
    worker = system.start_worker(wait=False)
    for _ in range(opts.drain_workers - 1):  # --drain-workers: more join the same backlog
        system.start_worker(wait=False)
    with _PeakRss(worker=worker) as rss:
        wait_until(lambda: system.persisted_counter() > 0, timeout=60, what="the first batch", interval=0.005)
        first_at, first_count = time.perf_counter(), system.persisted_counter()
        wait_until(lambda: system.persisted_counter() >= count, timeout=300, what=f"{count} rows", interval=0.005)
        elapsed = time.perf_counter() - first_at
    rows = system.rows()
    system.stop_all()
    rate = (count - first_count) / elapsed
    return {"rows_s": rate, "raw_rows_s": raw, "vs_raw": rate / raw, "rows": rows, "worker_rss_mib": rss.peak["worker"]}


# ---------------------------------------------------------------------------
# Polled reads: GET /messages?limit=20 and /health (issue 12)
# ---------------------------------------------------------------------------
GET_ROUTE_LUA = env.ROOT / "bench" / "get_route.lua"
READ_ROWS = 5_000


def reads(system: System, opts: Options, ctx: Context) -> dict:
    _fresh(system)
    system.queue_raw(READ_ROWS)  # a table with rows in it, stored by the system's own worker
    system.start_worker(wait=False)
    wait_until(lambda: system.persisted_counter() >= READ_ROWS, timeout=120, what=f"{READ_ROWS} rows")
    system.start_web()
    out = {}
    for name, path in (("messages", "/messages?limit=20"), ("health", "/health")):
        result = loadgen.wrk_post(system.url + path, seconds=opts.seconds(8, 4), connections=32, script=GET_ROUTE_LUA)
        bad = result["non2xx"] + result["err_read"] + result["err_timeout"]
        out |= {f"{name}_rps": result["rps"], f"{name}_p99_ms": result["p99_ms"], f"{name}_errors": bad}
    system.stop_all()
    return out


def other_reads(system: System, opts: Options, ctx: Context) -> dict:
    """msgbuffer's other read routes (the peer has none of them), each alone under wrk -c32."""
    _fresh(system)
    system.queue_raw(READ_ROWS)
    system.start_worker(wait=False)
    wait_until(lambda: system.persisted_counter() >= READ_ROWS, timeout=120, what=f"{READ_ROWS} rows")
    with psycopg.connect(env.dsn(system.database)) as conn:
        stored = conn.execute(f"SELECT message_id FROM {system.table} LIMIT 1").fetchone()[0]
    system.start_web()
    out = {}
    for name, path in (("detail", f"/messages/{stored}"), ("queue_status", "/queue/status"), ("metrics", "/metrics")):
        result = loadgen.wrk_post(system.url + path, seconds=opts.seconds(8, 4), connections=32, script=GET_ROUTE_LUA)
        bad = result["non2xx"] + result["err_read"] + result["err_timeout"]
        out |= {f"{name}_rps": result["rps"], f"{name}_p99_ms": result["p99_ms"], f"{name}_errors": bad}
    system.stop_all()
    return out


# ---------------------------------------------------------------------------
# Latency accepted -> committed
# ---------------------------------------------------------------------------
def _quiet(system: System, expected: int, timeout: float) -> int:
    """Wait until the system stored `expected` rows, or its row count stops moving."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        rows = system.rows()
        if rows >= expected:
            return rows
        if rows != last:
            last, stable_since = rows, time.monotonic()
        elif time.monotonic() - stable_since > 5 and system.queue_length() == 0:
            return rows
        time.sleep(0.2)
    return system.rows()


def e2e(system: System, opts: Options, ctx: Context) -> dict:
    seconds = opts.seconds(15, 8)
    warmup = 2.0
    _fresh(system)
    web = system.start_web()
    system.start_worker()
    since = datetime.now(UTC)

    with _PeakRss(web=web) as rss:
        gen = loadgen.paced_post(system.url + "/messages", rate=1000, seconds=seconds, body=ONE_MESSAGE, connections=16)
        result = loadgen.paced_result(gen, timeout=seconds + 60)
    accepted = _accepted(system, result)
    _quiet(system, accepted, timeout=30)
    latency = system.latency_ms_from_rows(since + timedelta(seconds=warmup))
    out = {
        "p99_ms": latency["p99_ms"],
        "p50_ms": latency["p50_ms"],
        "avg_batch": system.persisted_counter() / max(system.batches_counter(), 1),
        "http_p99_ms": result["p99_ms"],
        "web_rss_mib": rss.peak["web"],
    }
    if isinstance(system, Msgbuffer):
        from messaging.buffer import LATENCY_MS

        samples = sorted(float(v) for v in system.redis.lrange(LATENCY_MS, 0, -1))
        out["stats_p99_ms"] = samples[min(len(samples) - 1, int(0.99 * len(samples)))] if samples else float("nan")
    system.stop_all()
    return out


def lone(system: System, opts: Options, ctx: Context) -> dict:
    import http.client

    _fresh(system)
    system.start_web()
    system.start_worker()
    samples, observed = [], []
    for _ in range(2 if opts.quick else 3):
        time.sleep(3.0)  # let the previous flush job go idle: a lone message must start from quiet
        content = f"lone message {uuid.uuid4()}"
        conn = http.client.HTTPConnection("127.0.0.1", system.port, timeout=5)
        conn.request(
            "POST",
            "/messages",
            orjson.dumps({"user_id": 1, "channel_id": 1, "content": content}),
            {"Content-Type": "application/json"},
        )
        status = conn.getresponse().status
        posted = time.perf_counter()
        conn.close()
        assert status == system.accepted_status, status
        latency = wait_until(
            lambda content=content: system.row_latency_by_content(content),
            timeout=10,
            what="the lone message's row",
            interval=0.01,
        )
        observed.append((time.perf_counter() - posted) * 1000)
        samples.append(latency)
    system.stop_all()
    return {"median_ms": statistics.median(samples), "max_ms": max(samples), "observed_ms": statistics.median(observed)}


# ---------------------------------------------------------------------------
# /ws/stats with many clients, and RSS
# ---------------------------------------------------------------------------
def ws(system: System, opts: Options, ctx: Context) -> dict:
    try:
        from . import ws_stats
    except ImportError:
        return {"skipped": "bench/ws_stats.py is not there yet"}
    seconds = opts.seconds(20, 8)
    _fresh(system)
    web = system.start_web()
    system.start_worker()
    found: dict = {}

    def client_run():
        try:
            found.update(ws_stats.run(opts.ws_clients, seconds, system.ws_url, redis_url=env.redis_url(system.redis_db)))
        except Exception as exc:  # the peer gives up before 1,000 clients: say so in the table
            found["error"] = f"{exc.__class__.__name__}: {exc}"

    thread = threading.Thread(target=client_run)
    with _PeakRss(web=web) as rss:
        thread.start()
        thread.join(seconds + 120)
    system.stop_all()
    out = {key: value for key, value in found.items() if isinstance(value, (int, float)) or key == "error"}
    out.setdefault("web_rss_mib", rss.peak["web"])
    return out


def sigkill(system: System, opts: Options, ctx: Context) -> dict:
    seconds = opts.seconds(12, 8)
    kills = 3 if not opts.quick else 2
    _fresh(system)
    system.start_web()
    worker = system.start_worker()
    gen = loadgen.paced_post(system.url + "/messages", rate=1000, seconds=seconds, body=ONE_MESSAGE, connections=16)
    period = seconds / (kills + 1)
    for _ in range(kills):
        time.sleep(period)
        worker.kill()
        worker = system.start_worker(wait=False)
    result = loadgen.paced_result(gen, timeout=seconds + 60)
    accepted = _accepted(system, result)
    rows = _quiet(system, accepted, timeout=60)
    system.stop_all()
    return {"lost_per_kill": (accepted - rows) / kills, "accepted": accepted, "rows": rows}


def _db_connections(system: System) -> int:
    with psycopg.connect(env.dsn(system.database), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [system.database]
        ).fetchone()[0]


def tabs(system: System, opts: Options, ctx: Context) -> dict:
    """1,000 dashboard tabs on one web process, as the page behaves (bench/tabs.py)."""
    from .tabs import TabsAndReaders

    seconds = opts.seconds(30, 15)
    _fresh(system)
    web = system.start_web()
    system.start_worker()
    # Two client processes: one cannot keep up with 1,000 tabs (bench/tabs.py).
    with TabsAndReaders(system.url, tabs=opts.ws_clients, readers=0, processes=2) as load:
        settled = time.time() + 10  # once every tab is open and polling
        time.sleep(seconds)
        connections, rss = _db_connections(system), web.rss_mib()
    summary = load.summary(settled_after=settled)
    system.stop_all()
    return {
        "polls": summary["answers"],
        "poll_5xx": summary["server_errors"],
        "transport_errors": summary["transport_errors"],
        "poll_p99_ms": summary["poll_p99_ms"],
        "settled_poll_p99_ms": summary["settled_poll_p99_ms"],
        "ticks_per_tab_s": summary["ticks"] / opts.ws_clients / seconds,
        "db_conns": connections,
        "web_rss_mib": rss,
    }


class _SoakSamples:
    """Every `every` seconds in a thread: the table's rows, its size on disk with indexes and
    TOAST, the age of its oldest row, Redis's used memory, RSS of web and worker and the
    database's connections. What says whether anything grows over a long run."""

    FIELDS = ("t", "rows", "table_mib", "oldest_age_s", "redis_mib", "web_mib", "worker_mib", "db_conns")

    def __init__(self, system: System, web, worker, *, every: float = 15.0):
        self.system, self.web, self.worker, self.every = system, web, worker, every
        self.rows: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._began = time.monotonic()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        with psycopg.connect(env.dsn(self.system.database), autocommit=True) as conn:
            while True:
                self.rows.append(self.sample(conn))
                if self._stop.wait(self.every):
                    return

    def sample(self, conn) -> dict:
        table = self.system.table
        rows, oldest = conn.execute(f"SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM {table}").fetchone()
        size = conn.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0]
        return {
            "t": round(time.monotonic() - self._began),
            "rows": rows,
            "table_mib": size / (1 << 20),
            "oldest_age_s": float(oldest or 0.0),
            "redis_mib": self.system.redis.info("memory")["used_memory"] / (1 << 20),
            "web_mib": self.web.rss_mib(),
            "worker_mib": self.worker.rss_mib(),
            "db_conns": _db_connections(self.system),
        }

    def at(self, seconds: float) -> dict:
        """The first sample taken `seconds` or more into the run (else the last)."""
        return next((row for row in self.rows if row["t"] >= seconds), self.rows[-1])

    def timeline(self) -> str:
        lines = ["  " + " ".join(f"{name:>12}" for name in self.FIELDS)]
        for row in self.rows[:: max(1, len(self.rows) // 40)] + self.rows[-1:]:
            lines.append("  " + " ".join(f"{row[name]:>12,.1f}" for name in self.FIELDS))
        return "\n".join(lines)


def soak(system: System, opts: Options, ctx: Context) -> dict:
    """A long 1,000 msg/s run with 100 dashboard tabs and 32 API readers open
    (bench/tabs.py), msgbuffer with retention acting (--soak-retention-minutes, housekeeping
    every 30 s). Sampled every 15 s (_SoakSamples, the series in --json and on stderr):
    "settled" is once the retention has had a full period and its first prunes (horizon +
    60 s); from then on, rows, table size, Redis memory and RSS should stay flat."""
    from .tabs import TabsAndReaders

    seconds = opts.soak_seconds
    retention = opts.soak_retention_minutes * 60 if isinstance(system, Msgbuffer) else 0
    _fresh(system)
    overrides = system.env_overrides if isinstance(system, Msgbuffer) else {}
    saved = dict(overrides)
    if retention:
        overrides.update(MSGBUFFER_RETENTION_DAYS=repr(retention / 86400), MSGBUFFER_HOUSEKEEPING_INTERVAL="30")
    try:
        web = system.start_web()
        worker = system.start_worker()
    finally:
        overrides.clear()
        overrides.update(saved)
    warm = min(30, seconds / 4)
    settled = min(retention + 60, seconds / 2) if retention else warm
    with TabsAndReaders(system.url, tabs=100, readers=32) as readers, _SoakSamples(system, web, worker) as samples:
        gen = loadgen.paced_post(system.url + "/messages", rate=1000, seconds=seconds, body=ONE_MESSAGE, connections=16)
        result = loadgen.paced_result(gen, timeout=seconds + 120)
    reads = readers.summary()
    system.stop_all()
    start, steady = samples.at(warm), samples.at(settled)
    after = [row for row in samples.rows if row["t"] >= settled]
    end = samples.rows[-1]
    print(f"[bench] soak samples ({system.name}, retention {retention:.0f} s):\n{samples.timeline()}", flush=True)
    return {
        "retention_s": retention,
        "rows_settled": steady["rows"],
        "rows_max_after": max(row["rows"] for row in after),
        "rows_end": end["rows"],
        "oldest_age_max_s": max(row["oldest_age_s"] for row in after),
        "table_mib_settled": steady["table_mib"],
        "table_mib_end": end["table_mib"],
        "redis_mib_start": start["redis_mib"],
        "redis_mib_settled": steady["redis_mib"],
        "redis_mib_end": end["redis_mib"],
        "web_start_mib": start["web_mib"],
        "web_settled_mib": steady["web_mib"],
        "web_end_mib": end["web_mib"],
        "worker_start_mib": start["worker_mib"],
        "worker_settled_mib": steady["worker_mib"],
        "worker_end_mib": end["worker_mib"],
        "db_conns_start": start["db_conns"],
        "db_conns_max": max(row["db_conns"] for row in samples.rows),
        "db_conns_end": end["db_conns"],
        "ingest_not_2xx": result["sent"] - _accepted(system, result),
        "reads": reads["answers"],
        "read_5xx": reads["server_errors"],
        "read_transport_errors": reads["transport_errors"],
        "poll_p99_ms": reads["poll_p99_ms"],
        "ws_ticks": reads["ticks"],
        "_samples": samples.rows,
    }


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------
def _ratio_at_least(x):
    return lambda value, ratio: ratio is not None and ratio >= x


def _at_most(x):
    return lambda value, ratio: value <= x


def _at_least(x):
    return lambda value, ratio: value >= x


FIGURES = (
    Figure(
        "ingest",
        "POST /messages, wrk -t2 -c64",
        "wrk -t2 -c64 -d10s, peer's post_message.lua, web + worker running",
        (
            Metric("rps", "req/s", True, ">= 1.3x peer", _ratio_at_least(1.3)),
            Metric("p99_ms", "ms", False),
            Metric("non2xx", "", False),
        ),
    ),
    Figure(
        "ingest_at_rate",
        "POST /messages at half the peer's max rate",
        "open-loop paced generator (bench/loadgen.py), 16 conns, latency from scheduled send time",
        (
            Metric("rate", "req/s", True),
            Metric("p50_ms", "ms", False),
            Metric("p99_ms", "ms", False, "<= 10 ms", _at_most(10)),
            Metric("not_accepted", "", False),
        ),
    ),
    Figure(
        "bulk",
        "POST /messages/bulk, 1,000 per request",
        "wrk -t2 -c4 -d8s, 1,000 distinct messages per body, no worker",
        (Metric("messages_s", "msg/s", True, ">= 100k", _at_least(100_000)), Metric("p99_ms", "ms", False)),
        with_peer=False,
    ),
    Figure(
        "drain",
        "worker drain of 100k queued",
        "100k payloads LPUSHed (pipelined) into pending_messages, then one worker started; rate from first to last committed",
        (
            Metric("rows_s", "rows/s", True, ">= 20k", _at_least(20_000)),
            Metric("raw_rows_s", "rows/s", True),
            Metric("vs_raw", "x", True, ">= 0.6", _at_least(0.6)),
            Metric("worker_rss_mib", "MiB", False, "<= 100", _at_most(100)),
        ),
    ),
    Figure(
        "reads",
        "polled reads, wrk -t2 -c32",
        "5k rows stored, then wrk -t2 -c32 -d8s GET /messages?limit=20, then GET /health, web + worker running",
        (
            Metric("messages_rps", "req/s", True, ">= 5x peer", _ratio_at_least(5)),
            Metric("messages_p99_ms", "ms", False, "<= 100 ms", _at_most(100)),
            Metric("messages_errors", "", False),
            Metric("health_rps", "req/s", True, ">= 1x peer", _ratio_at_least(1)),
            Metric("health_p99_ms", "ms", False, "<= 100 ms", _at_most(100)),
            Metric("health_errors", "", False),
        ),
        default=False,
    ),
    Figure(
        "other_reads",
        "other read routes, wrk -t2 -c32",
        "5k rows stored, then wrk -t2 -c32 -d8s on GET /messages/<a stored id>, /queue/status, /metrics in turn",
        tuple(
            Metric(f"{name}_{what}", unit, what == "rps")
            for name in ("detail", "queue_status", "metrics")
            for what, unit in (("rps", "req/s"), ("p99_ms", "ms"), ("errors", ""))
        ),
        with_peer=False,
        default=False,
    ),
    Figure(
        "e2e",
        "accepted -> committed at 1,000 msg/s",
        "paced 1,000 req/s for 15 s, rows' inserted_at - created_at after a 2 s warm-up",
        (
            Metric("p99_ms", "ms", False, "<= 150 ms", _at_most(150)),
            Metric("p50_ms", "ms", False),
            Metric("stats_p99_ms", "ms", False),
            Metric("avg_batch", "msgs", True, ">= 45", _at_least(45)),
            Metric("http_p99_ms", "ms", False),
            Metric("web_rss_mib", "MiB", False),
        ),
    ),
    Figure(
        "lone",
        "lone message accepted -> committed",
        "one POST to an idle system, row's inserted_at - created_at, 3 samples",
        (
            Metric("median_ms", "ms", False, "<= 2500 ms", _at_most(2500)),
            Metric("max_ms", "ms", False),
            Metric("observed_ms", "ms", False),
        ),
        slow=True,
    ),
    Figure(
        "ws",
        "/ws/stats with 1,000 clients",
        "bench.ws_stats.run(1000, 20 s, url): ticks per client per s, p99 tick lag, the web process's own Redis commands/s (MONITOR), web RSS",
        (),
        slow=True,
    ),
    Figure(
        "sigkill",
        "messages lost per worker SIGKILL",
        "paced 1,000 req/s for 12 s, worker SIGKILLed 3x and restarted; (2xx - rows) / kills",
        (Metric("lost_per_kill", "msgs", False, "0", _at_most(0)), Metric("accepted", "", True), Metric("rows", "", True)),
        slow=True,
    ),
    Figure(
        "tabs",
        "1,000 dashboard tabs, one web process",
        "bench/tabs.py: --ws-clients tabs, each a /ws/stats socket and /health + /messages every 2 s, for 30 s from 2 client processes; tabs open over the first 2 s; settled: polls sent after the first 10 s",
        (
            Metric("polls", "", True),
            Metric("poll_5xx", "", False, "0", _at_most(0)),
            Metric("transport_errors", "", False),
            Metric("poll_p99_ms", "ms", False, "<= 250 ms", _at_most(250)),
            Metric("settled_poll_p99_ms", "ms", False),
            Metric("ticks_per_tab_s", "/s", True, ">= 1.9", _at_least(1.9)),
            Metric("db_conns", "", False),
            Metric("web_rss_mib", "MiB", False),
        ),
        with_peer=False,
        slow=True,
        default=False,
    ),
    Figure(
        "soak",
        "soak at 1,000 msg/s, 100 tabs, 32 readers",
        "paced 1,000 req/s for --soak-seconds with bench/tabs.py's 100 tabs and 32 readers, msgbuffer keeping --soak-retention-minutes; sampled every 15 s",
        (
            Metric("retention_s", "s", False),
            Metric("rows_settled", "", False),
            Metric("rows_max_after", "", False),
            Metric("rows_end", "", False),
            Metric("oldest_age_max_s", "s", False),
            Metric("table_mib_settled", "MiB", False),
            Metric("table_mib_end", "MiB", False),
            Metric("redis_mib_start", "MiB", False),
            Metric("redis_mib_settled", "MiB", False),
            Metric("redis_mib_end", "MiB", False),
            Metric("web_start_mib", "MiB", False),
            Metric("web_settled_mib", "MiB", False),
            Metric("web_end_mib", "MiB", False),
            Metric("worker_start_mib", "MiB", False),
            Metric("worker_settled_mib", "MiB", False),
            Metric("worker_end_mib", "MiB", False),
            Metric("db_conns_start", "", False),
            Metric("db_conns_max", "", False),
            Metric("db_conns_end", "", False),
            Metric("ingest_not_2xx", "", False, "0", _at_most(0)),
            Metric("reads", "", True),
            Metric("read_5xx", "", False, "0", _at_most(0)),
            Metric("read_transport_errors", "", False),
            Metric("poll_p99_ms", "ms", False),
            Metric("ws_ticks", "", True),
        ),
        slow=True,
        default=False,
    ),
)

RUNS = {
    "reads": reads,
    "other_reads": other_reads,
    "tabs": tabs,
    "ingest": ingest,
    "ingest_at_rate": ingest_at_rate,
    "bulk": bulk,
    "drain": drain,
    "e2e": e2e,
    "lone": lone,
    "ws": ws,
    "sigkill": sigkill,
    "soak": soak,
}
