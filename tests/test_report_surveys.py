"""`issuebot report --summary` feeds surveys_report.survey_figures from the private channels' items, and shows its figures."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from issuebot import markers, surveys_report
from issuebot.cli import main
from issuebot.providers.local import LocalProvider
from tests.conftest import program_data, write_program

CHANNEL = "mentoring/intake"
SENT = "2027-02-11T09:00:00+00:00"  # the first monthly round


def run(path: Path, *args: str, now: str) -> str:
    done = CliRunner().invoke(main, [*args, "-c", str(path), "--now", now])
    assert done.exit_code == 0, done.output
    return done.output


@pytest.fixture
def program(tmp_path: Path) -> Path:
    """Two pairs, both sides asked each month: four invitations in round 1."""
    data = program_data()
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    data["surveys"] = {"min_group": 2, "items": [{
        "id": "pulse", "title": "Monthly pulse", "when": "every", "every": "1 month", "who": "both",
        "questions": [{"text": "How useful?", "kind": "scale"}]}]}
    path = write_program(tmp_path / "program.yml", data)
    run(path, "sync", now="2027-01-11T09:00:00+00:00")
    run(path, "sweep", now=SENT)
    return path


def answer(tmp_path: Path, person: str, value: int, now: str) -> None:
    tracker = LocalProvider(tmp_path / "local.db", clock=lambda: datetime.fromisoformat(now))
    [item] = [i for i in tracker.list_issues(CHANNEL, state="all") if (markers.find_marker(i.body) or "").endswith(f":{person}")]
    tracker.as_user(person).create_comment(CHANNEL, item.number, f"1: {value}")


def summary_surveys(path: Path, now: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    """The summary's survey figures, and the issues `report` handed to survey_figures."""
    fed: list[Any] = []
    real = surveys_report.survey_figures

    def spy(program: Any, channel_issues: list[Any], *args: Any, **kwargs: Any) -> Any:
        fed.extend(channel_issues)
        return real(program, channel_issues, *args, **kwargs)

    monkeypatch.setattr(surveys_report, "survey_figures", spy)
    return json.loads(run(path, "report", "--summary", "--format", "json", now=now))["surveys"], fed


def test_report_summary_counts_the_rounds_invitations_and_answers_of_the_private_channels(program, tmp_path, monkeypatch):
    figures, fed = summary_surveys(program, SENT, monkeypatch)
    assert figures == {"rounds": 1, "invited": 4, "answered": 0, "response_rate": 0.0}
    assert fed and {i.project for i in fed} == {CHANNEL}  # read from the channel, nothing else
    assert {markers.find_marker(i.body) for i in fed} == {
        f"survey:pulse:1:{pair}:{person}" for pair, people in (("bob-alice", ("bob", "alice")), ("erin-dave", ("erin", "dave")))
        for person in people}

    answer(tmp_path, "bob", 4, "2027-02-12T10:00:00+00:00")
    answer(tmp_path, "dave", 2, "2027-02-12T11:00:00+00:00")
    run(program, "sweep", now="2027-02-12T12:00:00+00:00")  # records both answers in their items
    figures, _ = summary_surveys(program, "2027-02-12T12:00:00+00:00", monkeypatch)
    assert figures == {"rounds": 1, "invited": 4, "answered": 2, "response_rate": 50.0}

    table = run(program, "report", "--summary", now="2027-02-12T12:00:00+00:00")
    assert "surveys answered" in table and "surveys response_rate" in table and "50.0" in table


def test_a_program_without_surveys_reports_no_survey_figures(tmp_path, monkeypatch):
    data = program_data()
    data["program"]["provider"] = {"kind": "local", "path": str(tmp_path / "local.db")}
    path = write_program(tmp_path / "program.yml", data)
    run(path, "sync", now="2027-01-11T09:00:00+00:00")
    figures, fed = summary_surveys(path, SENT, monkeypatch)
    assert figures is None and fed == []

