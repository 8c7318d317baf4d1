"""`make run`: migrate, start an embedded Redis unless REDIS_URL is set, run the
Procfile's web and worker through honcho, print the dashboard URL once the web process
answers, and stop everything on Ctrl-C (or SIGTERM/SIGHUP)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from msgbuffer_site import embedded_redis

ROOT = Path(__file__).resolve().parent.parent
WEB_START_TIMEOUT = 60.0  # seconds; the first start on a slow machine compiles bytecode


def _is_on(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _wait_for_web(port: str, honcho: subprocess.Popen) -> bool:
    """True once GET /health answers at all (503 included: Redis or the database may lag)."""
    deadline = time.monotonic() + WEB_START_TIMEOUT
    while time.monotonic() < deadline and honcho.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False


def main() -> int:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DJANGO_DEBUG", "1")
    port = env.setdefault("PORT", "8000")
    redis_process = None
    honcho = None
    stopping = False

    def stop(signum, frame):
        # SIGTERM or SIGHUP (a closed terminal, `timeout`): stop like Ctrl-C does, so that the
        # finally below still stops the embedded Redis rather than orphaning it.
        nonlocal stopping
        stopping = True
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        if not env.get("REDIS_URL") and not env.get("REDIS_HOST") and not env.get("REDIS_SENTINELS"):
            data_dir = embedded_redis.default_data_dir()
            redis_process, env["REDIS_URL"] = embedded_redis.start(data_dir)
            print(f"msgbuffer: embedded Redis at {env['REDIS_URL']} (data in {data_dir})", flush=True)
        _manage(env, "migrate", "--noinput", "-v", "0")
        if not _is_on(env["DJANGO_DEBUG"]):
            # Without DEBUG, whitenoise serves the collected, hashed files only.
            _manage(env, "collectstatic", "--noinput", "-v", "0")
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", port], cwd=ROOT, env=env)
        if _wait_for_web(port, honcho):
            print(
                f"\nmsgbuffer: dashboard at http://127.0.0.1:{port}/  (API docs /docs, admin /admin/; Ctrl-C stops)\n", flush=True
            )
        try:
            returncode = honcho.wait()
        except KeyboardInterrupt:  # honcho got the same SIGINT and is stopping web and worker
            stopping = True
            returncode = honcho.wait()
        return 0 if stopping else returncode
    except KeyboardInterrupt:
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
            honcho.wait()
        return 0
    finally:
        if redis_process is not None:
            embedded_redis.stop(redis_process)


if __name__ == "__main__":
    sys.exit(main())
