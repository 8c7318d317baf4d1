"""`make fuzz`: schemathesis against the running API's own /openapi.json, every check on.

The server runs as in production (DEBUG off, the Procfile's web command, API keys
required) with a key of every scope, so the fuzzer reaches the routes' logic and not only
their 401s. Rate limits are off: the fuzzer is one client sending thousands of requests.
Reset stays disabled (its 403 is documented), so a fuzzed DELETE /reset wipes nothing.
GET /messages pages from a message stored first (bench/schemathesis.toml says why).

schemathesis lives in its own virtualenv (.venv-fuzz): it pins versions of libraries
msgbuffer's tests use too. Exit status: 1 when any answer was a server error (5xx), which
is the promise; the other checks' findings are printed for the note and the issues.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from . import environment as env
from .systems import Msgbuffer, wait_until

SCHEMATHESIS = "schemathesis==4.32.5"
FUZZ_VENV = env.ROOT / ".venv-fuzz"


def ensure_schemathesis() -> str:
    program = FUZZ_VENV / "bin" / "schemathesis"
    if not program.exists():
        env._say(f"installing {SCHEMATHESIS} into {FUZZ_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(FUZZ_VENV)], check=True)
        subprocess.run([str(FUZZ_VENV / "bin" / "pip"), "install", "-q", SCHEMATHESIS], check=True)
    return str(program)


def create_key(system: Msgbuffer) -> str:
    argv = [sys.executable, "manage.py", "apikey", "create", "fuzzer"]
    if (
        "--scope"
        in subprocess.run(
            argv[:3] + ["create", "--help"], cwd=env.ROOT, env=system.environ(), capture_output=True, text=True
        ).stdout
    ):
        argv += ["--scope", "ingest,read,operate"]
    return subprocess.run(argv, cwd=env.ROOT, env=system.environ(), capture_output=True, text=True, check=True).stdout.strip()


def store_a_message(system: Msgbuffer, key: str) -> str:
    """The id of a message posted and seen stored: what GET /messages?before= pages from
    (bench/schemathesis.toml)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{system.url}/messages", json={"user_id": 1, "channel_id": 1, "content": "fuzz cursor"}, headers=headers)
    message_id = answer.raise_for_status().json()["message_id"]
    wait_until(
        lambda: httpx.get(f"{system.url}/messages/{message_id}", headers=headers).json().get("status") == "persisted",
        timeout=30,
        what=f"message {message_id} stored",
    )
    return message_id


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation (default 50)")
    args = parser.parse_args(argv)
    program = ensure_schemathesis()
    env.prepare(peer=False)
    system = Msgbuffer(MSGBUFFER_API_KEYS_REQUIRED="1", MSGBUFFER_RATE_LIMIT="0")
    system.reset()
    key = create_key(system)
    system.start_web()
    system.start_worker()
    try:
        stored = store_a_message(system, key)
        run = subprocess.run(
            [
                program,
                "--config-file",
                str(env.ROOT / "bench" / "schemathesis.toml"),
                "run",
                f"{system.url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(args.max_examples),
                "--header",
                f"Authorization: Bearer {key}",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "FUZZ_STORED_MESSAGE_ID": stored},
        )
    finally:
        system.stop_all()
    print(run.stdout[-20_000:])
    server_errors = "Server error" in run.stdout
    print(f"[fuzz] schemathesis exit {run.returncode}; server errors: {'YES' if server_errors else 'none'}", file=sys.stderr)
    return 1 if server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
