"""PROVIDERS: the registry of tracker adapters, built from a program file."""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from datetime import datetime

from issuebot.config import Program
from issuebot.providers.base import Provider, WebhookParser

# kind -> "module:factory"; factories take (program, clock) and never import other forges' SDKs.
PROVIDERS: dict[str, str] = {
    "local": "issuebot.providers.local:from_program",
    "github": "issuebot.providers.github:from_program",
    "gitlab": "issuebot.providers.gitlab:from_program",
}


# forge -> module implementing providers.base.WebhookParser (pure: no I/O, no SDK imports).
WEBHOOK_PARSERS: dict[str, str] = {
    "github": "issuebot.providers.github_hooks",
    "gitlab": "issuebot.providers.gitlab_hooks",
    "local": "issuebot.providers.local_hooks",
}


def webhook_parser(name: str) -> WebhookParser:
    """The webhook parser for forge `name` (KeyError when there is none)."""
    return importlib.import_module(WEBHOOK_PARSERS[name])


def make_provider(program: Program, clock: Callable[[], datetime] | None = None) -> Provider:
    """The provider a program file asks for (`program.provider.kind`)."""
    return _factory(program.settings.provider.kind)(program, clock)


def provider_class(kind: str) -> type:
    """The adapter class tracker `kind` builds (its factory's return type), known without building
    one: no credential is read, so a capability such as ActsAsPerson can be checked first."""
    return typing.get_type_hints(_factory(kind))["return"]


def _factory(kind: str) -> Callable[..., Provider]:
    module_name, factory = PROVIDERS[kind].split(":")
    return getattr(importlib.import_module(module_name), factory)
