"""`make run`: migrate, start an embedded Redis unless REDIS_URL is set, print the
dashboard URL, then run the Procfile's web and worker through honcho until Ctrl-C."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from msgbuffer_site import embedded_redis

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DJANGO_DEBUG", "1")
    port = env.setdefault("PORT", "8000")
    redis_process = None
    if not env.get("REDIS_URL") and not env.get("REDIS_HOST"):
        redis_process, env["REDIS_URL"] = embedded_redis.start(embedded_redis.default_data_dir())
        print(f"msgbuffer: embedded Redis at {env['REDIS_URL']} (data in {embedded_redis.default_data_dir()})", flush=True)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        print(f"\nmsgbuffer: dashboard at http://127.0.0.1:{port}/  (API docs /docs, admin /admin/; Ctrl-C stops)\n", flush=True)
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", port], cwd=ROOT, env=env)
        try:
            return honcho.wait()
        except KeyboardInterrupt:  # honcho got the same SIGINT and is stopping web and worker
            return honcho.wait()
    finally:
        if redis_process is not None:
            embedded_redis.stop(redis_process)


if __name__ == "__main__":
    sys.exit(main())
