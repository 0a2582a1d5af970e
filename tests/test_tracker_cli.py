"""`issuebot tracker comment|close`: people's actions on the embedded tracker, through the event path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from issuebot import markers
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.models import Member
from issuebot.plan import index_issues
from issuebot.providers.local import from_program
from tests.conftest import program_data, write_program

PATH = "mentoring/mentoring-bob-alice"


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    config = write_program(tmp_path / "program.yml", program_data())
    result = CliRunner().invoke(main, ["sync", "-c", str(config), "--now", "2027-01-11T09:00:00+00:00"])
    assert result.exit_code == 0, result.output
    return config


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output  # stdout and stderr as a terminal shows them


def tracker(config: Path):
    program = load_program(config)
    provider = from_program(program)
    return {k: i for k, i in index_issues(provider.list_issues(PATH, state="all")).items()}, provider


def test_comment_runs_the_command_and_prints_what_happened(synced):
    code, out = run("tracker", "comment", "bob-alice", "session:1", "/session 2027-01-19 1h", "--as", "bob",
                    "-c", str(synced), "--now", "2027-01-20T10:00:00Z")
    assert code == 0, out
    assert "bob commented on #" in out and "command: /session 2027-01-19 1h" in out
    assert "add session::held" in out and "open issue [session:2]" in out
    assert "issuebot replied:" in out and "session 1 is logged as held on 2027-01-19" in out
    issues, provider = tracker(synced)
    assert issues["session:1"].state == "closed" and "session::held" in issues["session:1"].labels
    assert issues["session:2"].due.isoformat() == "2027-02-02"
    (comment, reply) = provider.list_comments(PATH, issues["session:1"].number)
    assert (comment.author, comment.body) == ("bob", "/session 2027-01-19 1h")
    assert reply.author == "issuebot" and markers.find_marker(reply.body) == f"ack:{comment.id}"
    assert comment.created_at.isoformat().startswith("2027-01-20T10:00")

    # A plain comment changes nothing but the tracker's note that issuebot read it.
    code, out = run("tracker", "comment", "bob-alice", "progress", "thanks!", "--as", "alice",
                    "-c", str(synced), "--now", "2027-01-20T11:00:00Z")
    assert code == 0 and "bob-alice: 1 writes" in out and "[progress]: update bot-owned text" in out
    assert "issuebot replied" not in out


def test_close_logs_the_session_and_opens_the_next(synced):
    code, out = run("tracker", "close", "bob-alice", "session:1", "--as", "alice", "-c", str(synced),
                    "--now", "2027-01-22T16:00:00Z")
    assert code == 0, out
    assert "alice closed #" in out
    issues, _ = tracker(synced)
    assert "session::held" in issues["session:1"].labels
    assert issues["session:2"].due.isoformat() == "2027-02-05"
    assert markers.read_state(issues["progress"].body)["sessions"][0]["by"] == "alice"
    assert "pair::active" in issues["progress"].labels


def test_issue_by_number_and_refusal_for_a_stranger(synced):
    issues, provider = tracker(synced)
    provider.ensure_members(PATH, [Member("mallory", "coordinator")])  # can read the project, is not in the pair
    number = str(issues["progress"].number)
    code, out = run("tracker", "comment", "bob-alice", number, "/pause", "--as", "mallory", "-c", str(synced),
                    "--now", "2027-01-20T10:00:00Z")
    assert code == 0, out
    assert "reserved for @bob, @alice" in out
    issues, _ = tracker(synced)
    assert "pair::kickoff" in issues["progress"].labels


def test_end_by_command_archives_and_further_comments_are_refused(synced):
    code, out = run("tracker", "comment", "bob-alice", "progress", "/end", "--as", "carol", "-c", str(synced),
                    "--now", "2027-03-01T10:00:00Z")
    assert code == 0, out
    assert "archive mentoring/mentoring-bob-alice" in out
    code, out = run("tracker", "comment", "bob-alice", "progress", "/resume", "--as", "bob", "-c", str(synced),
                    "--now", "2027-03-02T10:00:00Z")
    assert code == 1 and "archived (read-only)" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["comment", "nobody", "progress", "hi"], "PAIR: no pair 'nobody'"),
        (["comment", "bob-alice", "session:9", "hi"], "ISSUE: mentoring/mentoring-bob-alice has no issue 'session:9'"),
        (["comment", "bob-alice", "999", "hi"], "ISSUE: mentoring/mentoring-bob-alice has no issue #999"),
        (["comment", "bob-alice", "progress", "  "], "TEXT: a comment needs some text"),
        (["close", "erin-dave", "session:1", "--now", "yesterday"], "--now: not an ISO 8601"),
    ],
)
def test_bad_input_is_named_with_exit_2(synced, args, message):
    code, out = run("tracker", *args, "--as", "bob", "-c", str(synced))
    assert code == 2, out
    assert message in out and "Traceback" not in out


def test_pair_without_a_project_yet(tmp_path):
    config = write_program(tmp_path / "program.yml", program_data())
    code, out = run("tracker", "close", "bob-alice", "session:1", "--as", "bob", "-c", str(config))
    assert code == 2 and "run `issuebot sync` first" in out


def test_refused_on_a_forge(tmp_path):
    data = program_data({"kind": "gitlab", "group": "mentoring", "token_env": "ISSUEBOT_TEST_NO_SUCH_TOKEN"})
    config = write_program(tmp_path / "program.yml", data)
    code, out = run("tracker", "comment", "bob-alice", "progress", "/help", "--as", "bob", "-c", str(config))
    assert code == 2
    assert "embedded tracker only" in out and "gitlab" in out


def test_as_accepts_a_program_username_with_its_own_tracker_handle(tmp_path):
    data = program_data()
    bob = next(p for p in data["people"] if p["username"] == "bob")
    bob["handles"] = {"local": "bobby"}
    config = write_program(tmp_path / "program.yml", data)
    assert run("sync", "-c", str(config), "--now", "2027-01-11T09:00:00+00:00")[0] == 0
    code, out = run("tracker", "comment", "bob-alice", "session:1", "/session", "--as", "bob", "-c", str(config),
                    "--now", "2027-01-20T10:00:00Z")
    assert code == 0, out
    assert out.startswith("bobby commented") and "Thanks @bobby" in out
    issues, _ = tracker(config)
    assert markers.read_state(issues["progress"].body)["sessions"][0]["by"] == "bob"
