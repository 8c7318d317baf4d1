"""Realistic chat traffic for demos and load: POST /simulate and the benchmarks."""

import random

from .schemas import MessageIn

_OPENERS = ["hey", "ok so", "quick question:", "fyi", "lol", "honestly", "btw", "morning all,", "+1,", "wait,"]
_SUBJECTS = [
    "the deploy",
    "the standup",
    "my PR",
    "the new dashboard",
    "the release notes",
    "lunch",
    "the flaky test",
    "the migration",
    "the on-call rota",
    "that customer ticket",
    "the design doc",
]
_PREDICATES = [
    "is ready for review",
    "broke again",
    "looks great",
    "needs another pass",
    "is moved to 3pm",
    "went out without issues",
    "is blocked on infra",
    "just landed",
    "is taking forever",
    "made my day",
]
_TAILS = ["", "", " 🎉", " 👀", " — thoughts?", " :)", " (again)", "!", "?", " thx"]


def chat_messages(count: int, *, rng: random.Random | None = None) -> list[MessageIn]:
    """`count` plausible messages from a few hundred users across a dozen channels."""
    rng = rng or random.Random()
    return [
        MessageIn(
            user_id=rng.randint(1, 500),
            channel_id=rng.randint(1, 12),
            content=f"{rng.choice(_OPENERS)} {rng.choice(_SUBJECTS)} {rng.choice(_PREDICATES)}{rng.choice(_TAILS)}",
        )
        for _ in range(count)
    ]
