"""Matching: optimal on small cohorts (checked by brute force), every rule honoured, reasons given, CLI fragment."""

from __future__ import annotations

import itertools
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from issuebot.cli import main
from issuebot.config import load_program
from issuebot.matching import build_pool, match
from tests.conftest import program_data, write_program

SKILLS = ["python", "go", "sql", "kubernetes", "design", "writing"]
INTERESTS = ["music", "climbing", "chess", "open source"]
ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "UTC"]
DEPARTMENTS = ["Platform", "Data"]


def cohort(seed: int, mentees: int = 5, mentors: int = 4) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    people = []
    for n in range(mentors):
        people.append({
            "username": f"m{n}", "role": "mentor", "level": rng.choice([3, 4, 5]),
            "department": rng.choice(DEPARTMENTS), "skills": rng.sample(SKILLS, 3),
            "interests": rng.sample(INTERESTS, 2), "capacity": rng.choice([1, 1, 2]),
            "timezone": rng.choice(ZONES), "attributes": {"sector": rng.choice(["bank", "health"])},
        })
    for n in range(mentees):
        people.append({
            "username": f"e{n}", "role": "mentee", "level": rng.choice([1, 2, 3]),
            "department": rng.choice(DEPARTMENTS), "wants": rng.sample(SKILLS, 2),
            "interests": rng.sample(INTERESTS, 2), "timezone": rng.choice(ZONES),
            "manager": rng.choice([f"m{k}" for k in range(mentors)] + ["zed"]),
            "attributes": {"sector": rng.choice(["bank", "health"])},
        })
    people.append({"username": "carol", "role": "both"})
    return people


RULES = {
    "scope": "department",
    "level_rules": [{"mentee_levels": [1, 2], "mentor_min": 4}, {"mentee_levels": [3], "mentor_min": 4, "mentor_max": 5}],
    "max_timezone_hours": 6,
    "min_level_gap": 2,
    "exclude": [["e0", "m1"]],
    "never_again": [["m2", "e1"]],
    "weights": {"skills": 3, "interests": 1, "same_department": 0.5, "attributes": {"sector": 2}},
}

# Company-wide with no level rules: many allowed pairs, so the choice between them is what counts.
LOOSE = {"weights": {"skills": 3, "interests": 1, "attributes": {"sector": -1}}, "exclude": [["e1", "m0"]]}

OFFSETS = {"Europe/Berlin": 1, "Europe/London": 0, "America/New_York": -5, "Asia/Tokyo": 9, "UTC": 0}  # in January


def make_program(tmp_path: Path, people: list[dict[str, Any]], matching: dict[str, Any] | None = None,
                 pairs: list[dict[str, Any]] | None = None) -> Path:
    data = program_data(people=people, pairs=pairs or [])
    if matching is not None:
        data["program"]["matching"] = matching
    return write_program(tmp_path / "program.yml", data)


def allowed(mentee: dict[str, Any], mentor: dict[str, Any], rules: dict[str, Any]) -> bool:
    """The rules, written out plainly, independent of the vectorised implementation."""
    if mentee.get("manager") == mentor["username"]:
        return False
    names = {mentee["username"], mentor["username"]}
    if any(set(pair) == names for pair in rules.get("exclude", [])):
        return False
    if [mentor["username"], mentee["username"]] in rules.get("never_again", []):
        return False
    if rules.get("scope") == "department" and mentee["department"] != mentor["department"]:
        return False
    levels = [r for r in rules.get("level_rules", []) if mentee["level"] in r["mentee_levels"]]
    if rules.get("level_rules") and not levels:
        return False
    for rule in levels:
        if rule.get("mentor_min") is not None and mentor["level"] < rule["mentor_min"]:
            return False
        if rule.get("mentor_max") is not None and mentor["level"] > rule["mentor_max"]:
            return False
    if rules.get("min_level_gap") is not None and mentor["level"] - mentee["level"] < rules["min_level_gap"]:
        return False
    if rules.get("max_timezone_hours") is not None:
        gap = abs(OFFSETS[mentee["timezone"]] - OFFSETS[mentor["timezone"]])
        if min(gap, 24 - gap) > rules["max_timezone_hours"]:
            return False
    return True


def score(mentee: dict[str, Any], mentor: dict[str, Any], weights: dict[str, Any]) -> float:
    value = weights["skills"] * len(set(mentee["wants"]) & set(mentor["skills"]))
    value += weights["interests"] * len(set(mentee["interests"]) & set(mentor["interests"]))
    value += weights.get("same_department", 0) * (mentee["department"] == mentor["department"])
    for name, weight in weights.get("attributes", {}).items():
        value += weight * (mentee["attributes"][name] == mentor["attributes"][name])
    return value


def brute_force(people: list[dict[str, Any]], rules: dict[str, Any]) -> tuple[int, float]:
    """Best (pairs matched, total score) over every possible assignment."""
    mentees = [p for p in people if p["role"] == "mentee"]
    mentors = [p for p in people if p["role"] == "mentor"]
    best = (0, 0.0)
    for choice in itertools.product([None, *range(len(mentors))], repeat=len(mentees)):
        load: dict[int, int] = {}
        total, count = 0.0, 0
        for mentee, j in zip(mentees, choice):
            if j is None:
                continue
            load[j] = load.get(j, 0) + 1
            if load[j] > mentors[j]["capacity"] or not allowed(mentee, mentors[j], rules):
                break
            total += score(mentee, mentors[j], rules["weights"])
            count += 1
        else:
            best = max(best, (count, round(total, 6)))
    return best


@pytest.mark.parametrize("rules", [RULES, LOOSE], ids=["strict", "loose"])
@pytest.mark.parametrize("seed", range(20))
def test_matching_is_optimal_and_honours_every_rule(tmp_path: Path, seed: int, rules: dict[str, Any]) -> None:
    people = cohort(seed, mentees=6)
    program = load_program(make_program(tmp_path, people, rules))
    result = match(program, build_pool(program), today=date(2027, 1, 11))

    by_name = {p["username"]: p for p in people}
    load: dict[str, int] = {}
    for proposal in result.proposals:
        mentee, mentor = by_name[proposal.mentee], by_name[proposal.mentor]
        assert allowed(mentee, mentor, rules), proposal
        assert proposal.score == pytest.approx(score(mentee, mentor, rules["weights"]))
        load[proposal.mentor] = load.get(proposal.mentor, 0) + 1
        assert load[proposal.mentor] <= mentor["capacity"]
    assert len({p.mentee for p in result.proposals}) == len(result.proposals)
    assert "carol" not in {p.mentee for p in result.proposals} | {p.mentor for p in result.proposals}

    assert (len(result.proposals), round(result.total_score, 6)) == brute_force(people, rules)
    matched = {p.mentee for p in result.proposals}
    listed = {u.username for u in result.unmatched if u.side == "mentee"}
    assert listed == {p["username"] for p in people if p["role"] == "mentee"} - matched


def test_whole_cohort_beats_first_come_first_served(tmp_path: Path) -> None:
    # Greedy in file order gives amy the only python mentor; the optimum sends amy to the generalist.
    people = [
        {"username": "pat", "role": "mentor", "skills": ["python"]},
        {"username": "gus", "role": "mentor", "skills": ["sql", "go"]},
        {"username": "amy", "role": "mentee", "wants": ["python", "sql"]},
        {"username": "ben", "role": "mentee", "wants": ["python"]},
        {"username": "carol", "role": "both"},
    ]
    program = load_program(make_program(tmp_path, people))
    result = match(program, build_pool(program))
    assert {(p.mentee, p.mentor) for p in result.proposals} == {("amy", "gus"), ("ben", "pat")}
    assert result.total_score == 6


def test_manager_exclusions_and_former_partners_are_never_proposed(tmp_path: Path) -> None:
    people = [
        {"username": "boss", "role": "mentor", "skills": ["python"]},
        {"username": "old", "role": "mentor", "skills": ["python"]},
        {"username": "nope", "role": "mentor", "skills": ["python"]},
        {"username": "kim", "role": "mentee", "manager": "boss", "wants": ["python"]},
        {"username": "carol", "role": "both"},
    ]
    pairs = [{"mentor": "old", "mentee": "kim", "id": "kim-old"}]
    program = load_program(make_program(tmp_path, people, {"exclude": [["kim", "nope"]]}, pairs))
    # While kim-old runs, kim is not looking.
    assert match(program, build_pool(program)).proposals == ()
    result = match(program, build_pool(program, ended=["kim-old"]))
    assert result.proposals == ()
    [kim] = [u for u in result.unmatched if u.username == "kim"]
    assert "1 is the mentee's manager" in kim.reason
    assert "1 is excluded by the coordinators" in kim.reason
    assert "1 was already paired with them" in kim.reason


def test_capacity_counts_running_pairs_and_reasons_explain(tmp_path: Path) -> None:
    people = [
        {"username": "ann", "role": "mentor", "level": 5, "capacity": 2, "skills": ["go"], "interests": ["chess"],
         "timezone": "Europe/Berlin", "department": "Data"},
        {"username": "ed", "role": "mentee", "level": 2, "wants": ["go"], "interests": ["chess"],
         "timezone": "Europe/London", "department": "Data"},
        {"username": "fay", "role": "mentee", "level": 1, "wants": ["go"], "department": "Data"},
        {"username": "gil", "role": "mentee", "level": 2, "department": "Data"},
        {"username": "carol", "role": "both"},
    ]
    pairs = [{"mentor": "ann", "mentee": "gil"}]
    program = load_program(make_program(tmp_path, people, {"level_rules": [{"mentee_levels": [1, 2], "mentor_min": 4}]}, pairs))
    result = match(program, build_pool(program))
    assert [(p.mentee, p.mentor) for p in result.proposals] == [("ed", "ann")]  # ann has one place left
    reasons = " | ".join(result.proposals[0].reasons)
    assert "wants to learn: go (+3)" in reasons
    assert "shared interests: chess (+1)" in reasons
    assert "level 5 mentor for a level 2 mentee" in reasons
    assert "1h apart" in reasons
    [fay] = [u for u in result.unmatched if u.username == "fay"]
    assert fay.reason == "all 1 mentor(s) allowed for them are full with better-scoring pairs"


def test_level_rules_and_department_scope_leave_people_unmatched_with_reasons(tmp_path: Path) -> None:
    people = [
        {"username": "lea", "role": "mentor", "level": 3, "department": "Data"},
        {"username": "max", "role": "mentor", "level": 5, "department": "Sales"},
        {"username": "ned", "role": "mentee", "level": 2, "department": "Data"},
        {"username": "oli", "role": "mentee", "department": "Data"},
        {"username": "carol", "role": "both"},
    ]
    rules = {"scope": "department", "level_rules": [{"mentee_levels": [1, 2], "mentor_min": 4}]}
    program = load_program(make_program(tmp_path, people, rules))
    result = match(program, build_pool(program))
    assert result.proposals == ()
    reasons = {u.username: u.reason for u in result.unmatched}
    assert reasons["ned"] == ("no mentor fits the program's rules: of 2 with free places, 1 works in another department; "
                              "1 has a level outside the program's rule for this mentee")
    assert "a level is missing" in reasons["oli"]  # no level: said as missing, not as outside the rule
    assert "no mentee looking for a mentor may have this mentor" in reasons["lea"]


def test_match_cli_writes_a_fragment_that_merges_into_a_valid_program(tmp_path: Path) -> None:
    people = cohort(3, mentees=6, mentors=5)
    path = make_program(tmp_path, people, RULES)
    out = tmp_path / "proposals.yml"
    runner = CliRunner()
    result = runner.invoke(main, ["match", "-c", str(path), "--output", str(out), "--explain", "--no-tracker",
                                  "--now", "2027-02-01"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    fragment = yaml.safe_load(text)
    assert fragment["pairs"], text
    assert all(entry["starts"] == date(2027, 2, 1) for entry in fragment["pairs"])
    assert "#   offers what" in text or "#   shared interests" in text or "#   same sector" in text
    printed = runner.invoke(main, ["match", "-c", str(path), "--no-tracker", "--now", "2027-01-11"])
    assert printed.exit_code == 0
    assert yaml.safe_load(printed.output)["pairs"] == [{k: v for k, v in e.items() if k != "starts"} for e in fragment["pairs"]]

    data = yaml.safe_load(path.read_text())
    data["pairs"] = fragment["pairs"]
    merged = write_program(tmp_path / "merged.yml", data)
    program = load_program(merged)
    assert len(program.pairs) == len(fragment["pairs"])
    planned = runner.invoke(main, ["plan", "-c", str(merged), "--now", "2027-02-01"])
    assert planned.exit_code == 0, planned.output
    for pair in program.pairs:
        assert f"{pair.id}:\n  - create private project mentoring-{pair.id}" in planned.output
    # Everyone is now paired or has no allowed partner left: a second run proposes nobody new.
    again = runner.invoke(main, ["match", "-c", str(merged), "--no-tracker"])
    proposed = yaml.safe_load(again.output)["pairs"]
    assert not {(p["mentor"], p["mentee"]) for p in proposed} & {(p["mentor"], p["mentee"]) for p in fragment["pairs"]}
    assert not {p["mentee"] for p in proposed} & {p["mentee"] for p in fragment["pairs"]}


def test_match_cli_reports_a_bad_matching_section_without_a_traceback(tmp_path: Path) -> None:
    path = make_program(tmp_path, cohort(1), {"weights": {"skils": 2}})
    result = CliRunner().invoke(main, ["match", "-c", str(path), "--no-tracker"])
    assert result.exit_code == 2
    assert "program.matching.weights.skils: unknown key 'skils' (did you mean 'skills'?)" in result.output


def test_matching_rules_naming_unknown_people_or_upside_down_levels_are_config_errors(tmp_path: Path) -> None:
    rules = {"exclude": [["e0", "mm1"]], "level_rules": [{"mentee_levels": [1], "mentor_min": 5, "mentor_max": 4}]}
    path = make_program(tmp_path, cohort(1), rules)
    result = CliRunner().invoke(main, ["match", "-c", str(path), "--no-tracker"])
    assert result.exit_code == 2
    assert "program.matching.level_rules[0]: mentor_min (5) is above mentor_max (4)" in result.output
    rules["level_rules"] = []
    path = make_program(tmp_path, cohort(1), rules)
    result = CliRunner().invoke(main, ["match", "-c", str(path), "--no-tracker"])
    assert result.exit_code == 2
    assert "program.matching.exclude[0][1]: unknown person 'mm1' (did you mean 'm1'?)" in result.output
    assert "program.yml:" in result.output


def test_pal_level_four_mentors_only_when_opted_in_and_explain_names_the_others(tmp_path):
    from issuebot import matching as m
    from issuebot.config import load_program as load
    from issuebot.paths import shipped

    text = (shipped("config") / "programs" / "pal.yml").read_text(encoding="utf-8").split("\npairs:")[0]
    text = text.replace("    attributes: {delivery_project: search, opted_in: true}", "    attributes: {delivery_project: search}")
    (tmp_path / "pal").mkdir()
    path = tmp_path / "pal.yml"
    pal_templates = shipped("config") / "programs" / "pal"
    path.write_text(text.replace("  templates: pal", f"  templates: {pal_templates}") + "\npairs: []\n", encoding="utf-8")
    program = load(path)
    result = m.match(program, m.build_pool(program))
    assert [(p.mentor, p.mentee) for p in result.proposals] == [("liam", "sam"), ("liam", "tess")]
    left = {u.username: u.reason for u in result.unmatched}
    assert left["nora"] == "level 4 mentors only when marked `attributes: {opted_in: true}`, which they are not"


def test_a_missing_department_is_said_as_missing_under_department_scope(tmp_path):
    from issuebot import matching as m

    data = program_data(pairs=[])
    data["program"]["matching"] = {"scope": "department"}
    data["pairs"] = []
    program = load_program(write_program(tmp_path / "p.yml", data))
    result = m.match(program, m.build_pool(program))
    reasons = {u.username: u.reason for u in result.unmatched if u.side == "mentee"}
    assert "cannot be checked against the department scope: a department is missing" in reasons["bob"]
    assert "works in another department" not in reasons["bob"]


def test_generation_on_a_scale_prefers_similar_generations(tmp_path):
    from issuebot import matching as m

    data = program_data()
    data["pairs"] = []
    data["people"] = [
        {"username": "ann", "role": "mentor", "attributes": {"generation": "boomer"}},
        {"username": "ben", "role": "mentor", "attributes": {"generation": "millennial"}},
        {"username": "cat", "role": "mentee", "attributes": {"generation": "gen z"}},
        {"username": "carol", "role": "both"},
    ]
    data["program"]["matching"] = {"weights": {"attributes": {"generation": 1}},
                                   "scales": {"generation": ["boomer", "gen x", "millennial", "gen z"]}}
    program = load_program(write_program(tmp_path / "p.yml", data))
    result = m.match(program, m.build_pool(program))
    assert [(p.mentor, p.mentee) for p in result.proposals] == [("ben", "cat")]
    assert any(r.startswith("similar generation: gen z and millennial") for r in result.proposals[0].reasons)
