"""Typed reads of the environment for the settings modules.

A value that does not parse stops the process with ImproperlyConfigured naming the
variable, not a bare ValueError. pydantic does the parsing, as it does for the
MSGBUFFER_* variables (messaging/conf.py), so "on", "yes" and "1" mean the same thing in
both. An empty value means unset, as in a copied .env.example; for a list, set and empty
means the empty list (CORS_ALLOWED_ORIGINS= turns off DEBUG's localhost:3000).
"""

import os

import pydantic
from django.core.exceptions import ImproperlyConfigured

_BOOL = pydantic.TypeAdapter(bool)
_INT = pydantic.TypeAdapter(int)
_FLOAT = pydantic.TypeAdapter(pydantic.FiniteFloat)


def _read(name: str, adapter: pydantic.TypeAdapter, default):
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    try:
        return adapter.validate_python(value.strip())
    except pydantic.ValidationError as invalid:
        raise ImproperlyConfigured(f"{name}={value!r}: {invalid.errors(include_url=False)[0]['msg']}.") from None


def env_bool(name: str, default: bool) -> bool:
    return _read(name, _BOOL, default)


def env_int(name: str, default: int) -> int:
    return _read(name, _INT, default)


def env_float(name: str, default: float) -> float:
    return _read(name, _FLOAT, default)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(sorted(choices))} (got {value!r}).")
    return value
