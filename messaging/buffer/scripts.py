"""The one loader of the Lua scripts (lua/*.lua, one per state change), registered once
per client so that each call is an EVALSHA."""

from __future__ import annotations

import weakref
from functools import cache
from pathlib import Path

_LUA_DIR = Path(__file__).with_name("lua")


@cache
def _source(name: str) -> str:
    return (_LUA_DIR / f"{name}.lua").read_text()


_scripts: weakref.WeakKeyDictionary[object, dict] = weakref.WeakKeyDictionary()


def script(client, name: str):
    """lua/<name>.lua as a callable Script (redis-py's) bound to `client`."""
    per_client = _scripts.setdefault(client, {})
    found = per_client.get(name)
    if found is None:
        found = per_client[name] = client.register_script(_source(name))
    return found
