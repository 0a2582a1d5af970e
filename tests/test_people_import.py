"""`issuebot people import` and `match --apply`: clear reports, and program-file edits that keep the file as it was."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from issuebot import people_import
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.models import Issue
from issuebot.paths import shipped
from issuebot.templates import Templates

HR_EXPORT = """\
Login,Full name,Role,Level,Departmnet,Skills,E-mail
ines,Ines Ito,mentee,1,Engineering,,ines@example.com
sam,Sam Singh,mentee,3,Engineering,,
ines,Ines Again,mentee,2,Engineering,,
omar,Omar Ortiz,mentor,five,Engineering,go;sql,
"""


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.delenv("ISSUEBOT_CONFIG", raising=False)
    return CliRunner()


@pytest.fixture
def pal(tmp_path) -> Path:
    """A copy of the shipped PAL program with an HR column mapping added at the end of `program:`."""
    folder = tmp_path / "pal"
    shutil.copytree(shipped("config") / "programs" / "pal", folder / "pal")
    text = (shipped("config") / "programs" / "pal.yml").read_text(encoding="utf-8")
    text = text.replace("\nprogram:\n", "\nprogram:\n  people_import:\n    columns: {Login: username, Full name: name}\n", 1)
    path = folder / "pal.yml"
    path.write_text(text, encoding="utf-8")
    return path


def only_added_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds; fails when any line of `before` changed or went away."""
    ops = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False).get_opcodes()
    assert [op for op in ops if op[0] not in ("equal", "insert")] == [], "a line of the original changed"
    return [line for tag, _, _, j1, j2 in ops if tag == "insert" for line in after.splitlines()[j1:j2]]


def test_a_csv_with_a_typo_a_duplicate_and_a_changed_level_gets_a_clear_report(runner, pal):
    source = pal.parent / "hr.csv"
    source.write_text(HR_EXPORT, encoding="utf-8")
    before = pal.read_text(encoding="utf-8")
    result = runner.invoke(main, ["people", "import", "-c", str(pal), str(source)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "hr.csv:1: column 'Departmnet' is not a person field (did you mean 'department'?)" in out
    assert "hr.csv:4: duplicate person 'ines' (first at hr.csv:2)" in out
    assert "hr.csv:5: level: Input should be a valid integer" in out  # omar's "five": left out, with where and why
    assert "new: ines (Ines Ito, mentee, level 1)" in out
    assert "changed: sam: level 2 -> 3" in out
    assert "1 new, 1 changed, 0 unchanged, 2 left out" in out
    assert "+    level: 3" in out and "-    level: 2" in out  # the diff is shown first
    assert "nothing written; run again with --apply" in out
    assert pal.read_text(encoding="utf-8") == before


def test_import_apply_writes_new_and_changed_people_and_keeps_everything_else(runner, pal):
    source = pal.parent / "hr.csv"
    source.write_text(HR_EXPORT, encoding="utf-8")
    before = pal.read_text(encoding="utf-8")
    result = runner.invoke(main, ["people", "import", "-c", str(pal), str(source), "--apply"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    after = pal.read_text(encoding="utf-8")
    changed = [line[0] + line[2:] for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert changed == ["-    level: 2", "+    level: 3",
                       "+  - {username: ines, name: Ines Ito, email: ines@example.com, role: mentee, level: 1}"]
    program = load_program(pal)
    assert program.people["ines"].email == "ines@example.com" and program.people["sam"].level == 3
    again = runner.invoke(main, ["people", "import", "-c", str(pal), str(source), "--apply"], catch_exceptions=False)
    assert "0 new, 0 changed, 2 unchanged" in again.output and "nothing to change" in again.output
    assert pal.read_text(encoding="utf-8") == after


def test_match_apply_adds_only_the_proposed_pairs(runner, tmp_path):
    folder = tmp_path / "pe"
    shutil.copytree(shipped("config") / "programs" / "structured-programme", folder / "structured-programme")
    path = folder / "p.yml"
    text = (shipped("config") / "programs" / "structured-programme.yml").read_text(encoding="utf-8")
    # Keep abe's pair; dora's partner left, and two newcomers wait for a match.
    text = text.replace("  - {mentor: cleo, mentee: eli}         # reverse mentoring\n", "")
    path.write_text(text, encoding="utf-8")
    shown = runner.invoke(main, ["match", "-c", str(path), "--no-tracker", "--diff"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "+  - {mentor: cleo, mentee: eli}" in shown.output and path.read_text(encoding="utf-8") == text
    result = runner.invoke(main, ["match", "-c", str(path), "--no-tracker", "--apply"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    added = only_added_lines(text, path.read_text(encoding="utf-8"))
    assert added == ["  - {mentor: cleo, mentee: eli}"]
    assert [p.id for p in load_program(path).pairs] == ["dora-abe", "eli-cleo"]


@pytest.mark.parametrize("name", ["example.yml", *(f"programs/{p.name}" for p in sorted((shipped("config") / "programs").glob("*.yml")))])
def test_every_shipped_program_takes_added_people_and_pairs_as_added_lines_only(name):
    from issuebot import program_edit

    path = shipped("config") / name
    document = program_edit.open_document(path)
    program_edit.add_people(document, [{"username": "zed", "skills": ["a", "b"], "attributes": {"bio": "Hi: there"}}])
    program_edit.add_pairs(document, [{"mentor": "zed", "mentee": "yan"}])
    added = only_added_lines(document.original, document.current)
    assert added == ["  - {username: zed, skills: [a, b], attributes: {bio: 'Hi: there'}}", "  - {mentor: zed, mentee: yan}"]


def test_sign_up_forms_become_candidates_and_unknown_questions_are_reported(tmp_path):
    program = load_program(shipped("config") / "programs" / "pal.yml")
    body = ("### Name\n\nUma Ueda\n\n### Role\n\nmentee\n\n### Level\n\n2\n\n### Skills you want to learn\n\n"
            "architecture, testing\n\n### E-mail\n\n_No response_\n\n### Favourite colour\n\nteal\n")
    issue = Issue(project="pal/intake", number=3, title="Sign-up", body=body, author="uma")
    candidates, unknown = people_import.read_signups([issue], program, "local",
                                                     people_import.signup_form(Templates(program.templates_dir())))
    assert candidates[0].fields == {"username": "uma", "name": "Uma Ueda", "role": "mentee", "level": 2,
                                    "wants": ["architecture", "testing"]}
    assert unknown == ["pal/intake#3: question 'Favourite colour' is not on the sign-up form; its answer is ignored"]
    report = people_import.compare(program, candidates)
    assert [e["username"] for e in report.new] == ["uma"]


def test_pal_sync_adds_the_mentor_to_the_mentees_delivery_project_once(tmp_path):
    from datetime import datetime, timezone

    from issuebot.providers.local import LocalProvider
    from issuebot.reconcile import reconcile_program
    from issuebot.templates import Templates

    folder = tmp_path / "pal"
    shutil.copytree(shipped("config") / "programs" / "pal", folder / "pal")
    (folder / "pal.yml").write_text((shipped("config") / "programs" / "pal.yml").read_text(encoding="utf-8"), encoding="utf-8")
    program = load_program(folder / "pal.yml")
    now = datetime(2027, 1, 11, 9, tzinfo=timezone.utc)
    provider = LocalProvider(program.local_db_path(), group="pal", clock=lambda: now)
    templates = Templates(program.templates_dir())
    reconcile_program(provider, program, templates, trigger="sync", now=now)
    assert provider.members("pal/payments") == {"liam": "developer"}
    assert provider.members("pal/search") == {"nora": "developer"}
    again = reconcile_program(provider, program, templates, trigger="sync", now=now)
    assert again.outcome.writes == 0
