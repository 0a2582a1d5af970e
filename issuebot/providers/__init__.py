"""PROVIDERS: the registry of tracker adapters, built from a program file."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime

from issuebot.config import Program
from issuebot.providers.base import Provider

# kind -> "module:factory"; factories take (program, clock) and never import other forges' SDKs.
PROVIDERS: dict[str, str] = {
    "local": "issuebot.providers.local:from_program",
}


def make_provider(program: Program, clock: Callable[[], datetime] | None = None) -> Provider:
    """The provider a program file asks for (`program.provider.kind`)."""
    kind = program.settings.provider.kind
    module_name, factory = PROVIDERS[kind].split(":")
    return getattr(importlib.import_module(module_name), factory)(program, clock)
