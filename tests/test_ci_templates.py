"""The shipped CI templates parse and call only issuebot commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from issuebot.cli import main

CI = Path(__file__).resolve().parents[1] / "config" / "ci"
TEMPLATES = sorted(CI.glob("*.yml"))


def invocations(text: str) -> list[list[str]]:
    """The argument lists of every `issuebot ...` shell command outside comments."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in re.finditer(r"\bissuebot\s+([a-z][^;|&>\n]*)", line):
            found.append(shlex.split(match.group(1)))
    return found


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    rest = list(words)
    while rest and isinstance(command, click.Group) and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"no command {rest[0]!r} in {words}"
        command, rest = sub, rest[1:]
    return command, rest


def test_there_are_ci_templates_for_both_forges():
    assert {p.name for p in TEMPLATES} >= {"gitlab-ci.yml", "github-sweep.yml"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_is_yaml_and_runs_the_sweep_with_a_dry_run_variant(path: Path):
    text = path.read_text(encoding="utf-8")
    assert isinstance(yaml.safe_load(text), dict)
    calls = invocations(text)
    assert ["sweep", "--json"] in calls and ["sweep", "--dry-run"] in calls


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_issuebot_call_names_a_real_command_and_options(path: Path):
    calls = invocations(path.read_text(encoding="utf-8"))
    assert calls
    for words in calls:
        command, rest = resolve(words)
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in rest:
            if word.startswith("-"):
                assert word.split("=")[0] in known, f"{' '.join(words)}: {word} is not an option of {command.name}"


def test_the_templates_queue_overlapping_runs_instead_of_racing_them():
    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))
    jobs = {name: job for name, job in gitlab.items() if isinstance(job, dict) and "script" in job}
    hidden = {name: job for name, job in gitlab.items() if name.startswith(".") and isinstance(job, dict)}
    for name, job in jobs.items():
        base = hidden.get(job.get("extends", ""), {})
        assert (job.get("resource_group") or base.get("resource_group")) == "issuebot-sweep", name
    github = yaml.safe_load((CI / "github-sweep.yml").read_text(encoding="utf-8"))
    assert github["concurrency"] == {"group": "issuebot-sweep", "cancel-in-progress": False}
