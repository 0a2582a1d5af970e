"""The five ready-made programs, each run on the embedded tracker from kickoff to wrap-up with an injected clock."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner

from issuebot import markers
from issuebot.cli import main
from issuebot.config import load_program
from issuebot.models import Comment, Issue
from issuebot.paths import shipped
from issuebot.providers.local import LocalProvider
from issuebot.templates import Templates

PROGRAMS = ("pal", "department-pilot", "volunteer-scheme", "skills-exchange", "structured-programme")


class ProgramRun:
    """A copy of a shipped program pointed at a tracker in tmp_path, driven through the CLI."""

    def __init__(self, tmp_path: Path, name: str):
        source = shipped("config") / "programs"
        shutil.copy(source / f"{name}.yml", tmp_path / f"{name}.yml")
        if (source / name).is_dir():
            shutil.copytree(source / name, tmp_path / name)
        self.path = tmp_path / f"{name}.yml"
        data = yaml.safe_load(self.path.read_text())
        self.db = tmp_path / "tracker.db"
        data["program"]["provider"]["path"] = str(self.db)
        self.path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.program = load_program(self.path)
        self.runner = CliRunner()

    def cli(self, *args: str) -> str:
        words = 2 if args[0] in ("rematch", "tracker") else 1  # a group's subcommand takes the options
        result = self.runner.invoke(main, [*args[:words], "-c", str(self.path), *args[words:]])
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.output

    def sync(self, now: str) -> str:
        return self.cli("sync", "--now", now)

    def sweep(self, now: str) -> str:
        return self.cli("sweep", "--now", now)

    def say(self, pair: str, issue: str, text: str, who: str, now: str) -> str:
        return self.runner.invoke(main, ["tracker", "comment", "-c", str(self.path), "--now", now, pair, issue, text,
                                         "--as", who]).output

    def sweep_twice(self, now: str) -> str:
        first = self.sweep(now)
        again = self.sweep(now)
        assert "; 0 writes;" in again, again
        return first

    @property
    def tracker(self) -> LocalProvider:
        return LocalProvider(self.db, group=self.program.settings.provider.group,
                             clock=lambda: datetime(2030, 1, 1, tzinfo=timezone.utc))

    def project(self, pair: str) -> str:
        return f"{self.program.settings.provider.group}/{self.program.settings.project_prefix}{pair}"

    def issues(self, pair: str) -> dict[str, Issue]:
        return {markers.find_marker(i.body) or f"#{i.number}": i
                for i in self.tracker.list_issues(self.project(pair), state="all")}

    def comments(self, pair: str, key: str) -> list[Comment]:
        issue = self.issues(pair)[key]
        return self.tracker.list_comments(issue.project, issue.number)

    def bot_comments(self, pair: str, key: str, prefix: str) -> list[Comment]:
        return [c for c in self.comments(pair, key) if (markers.find_marker(c.body) or "").startswith(prefix)]

    def space(self) -> dict[str, Issue]:
        """The cohort space's issues by marker key (none when the program has no cohort space)."""
        space = self.program.settings.cohort_space
        if space is None:
            return {}
        path = f"{self.program.settings.provider.group}/{space.project}"
        return {markers.find_marker(i.body) or f"#{i.number}": i for i in self.tracker.list_issues(path, state="all")}

    def status(self, pair: str) -> str:
        labels = self.issues(pair)["progress"].labels
        return next(l.split("::", 1)[1] for l in labels if l.startswith("pair::"))

    def report(self) -> dict[str, dict[str, Any]]:
        return {row["pair"]: row for row in json.loads(self.cli("report", "--format", "json"))}

    def summary(self, now: str) -> dict[str, Any]:
        return json.loads(self.cli("report", "--summary", "--format", "json", "--now", now))

    def check_summary(self, now: str) -> dict[str, Any]:
        """`report --summary` agrees with figures counted here straight from the tracker's issues."""
        got = self.summary(now)
        expected = self.count_figures(datetime.fromisoformat(now).date())
        assert {k: got[k] for k in expected if k != "months"} == {k: v for k, v in expected.items() if k != "months"}
        assert [{k: m[k] for k in expected["months"][0]} for m in got["months"]] == expected["months"]
        return got

    def count_figures(self, today: date) -> dict[str, Any]:
        """The summary's main figures, counted from labels, closed issues, bot comments and the session log."""
        settings = self.program.settings
        zone = ZoneInfo(settings.timezone)
        by_status: dict[str, int] = {}
        held: list[tuple[date, int]] = []  # (day, minutes) of each held session
        credits: list[tuple[date, int]] = []  # (day closed, minutes) of each credited activity
        stale_on: list[date] = []
        ended: dict[str, date] = {}
        goals = goals_done = 0
        goal_days: list[date] = []
        counted = {f"extra:{e.key}": e for e in settings.onboarding_issues}
        for pair in self.program.pairs:
            issues = self.issues(pair.id)
            status = next(l.split("::", 1)[1] for l in issues["progress"].labels if l.startswith("pair::"))
            by_status[status] = by_status.get(status, 0) + 1
            log = {e["n"]: e for e in markers.read_state(issues["progress"].body)["sessions"]}
            for key, issue in issues.items():
                if key.startswith("session:") and "session::held" in issue.labels:
                    entry = log[int(key.split(":")[1])]
                    held.append((date.fromisoformat(entry["date"]), entry["minutes"] or settings.session_length))
                is_goal = (key.startswith("goal:") and key != "goal:define") or (
                    key in counted and counted[key].counts_as == "goal")
                if is_goal:
                    goals += 1
                    if issue.state == "closed":
                        goals_done += 1
                        goal_days.append(issue.closed_at.astimezone(zone).date())  # type: ignore[union-attr]
                if key in counted and counted[key].credit and issue.state == "closed":
                    credits.append((issue.closed_at.astimezone(zone).date(), counted[key].credit))  # type: ignore[union-attr]
            escalations = sorted(markers.find_marker(c.body) or "" for c in self.comments(pair.id, "progress"))
            firsts = [e.split(":", 1)[1] for e in escalations if e.startswith("escalation:")][:1]
            stale_on += [date.fromisoformat(d) for d in firsts]
            ends = [markers.find_marker(c.body) for c in self.comments(pair.id, "progress")]
            for mark in ends:
                if mark and mark.startswith("ended:"):
                    ended[pair.id] = date.fromisoformat(mark.split(":", 1)[1])
        for key, issue in self.space().items():  # cohort activities: each host credited once closed
            record = markers.read_state(issue.body)
            if key.startswith("activity:") and issue.state == "closed" and record.get("credited"):
                day = issue.closed_at.astimezone(zone).date()  # type: ignore[union-attr]
                credits += [(day, record["credited"])] * len(record["hosts"])
        months = []
        month = settings.starts.replace(day=1)
        while month <= today:
            following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
            inside = lambda d, month=month, following=following: month <= d < following and d <= today  # noqa: E731
            months.append({
                "month": month.strftime("%Y-%m"),
                "active_pairs": sum(1 for p in self.program.pairs if p.starts < following
                                    and (p.id not in ended or ended[p.id] >= month)),
                "sessions_held": sum(1 for d, _ in held if inside(d)),
                "mentor_hours": round(sum(m for d, m in held + credits if inside(d)) / 60, 2),
                "new_stale": sum(1 for d in stale_on if inside(d)),
                "goals_done": sum(1 for d in goal_days if inside(d)),
            })
            month = following
        return {
            "pairs": len(self.program.pairs), "by_status": by_status,
            "sessions_held": len(held), "mentor_hours": round(sum(m for _, m in held + credits) / 60, 2),
            "goals_total": goals, "goals_done": goals_done, "months": months,
        }


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_program_file_is_valid_and_documented(name: str) -> None:
    path = shipped("config") / "programs" / f"{name}.yml"
    program = load_program(path)
    assert program.pairs and program.people
    text = path.read_text()
    assert text.startswith("# ") and text.count("\n# ") >= 5  # a documented header
    templates = Templates(program.templates_dir())
    own = sorted(p.stem for p in program.templates_dir().glob("*.md"))  # type: ignore[union-attr]
    assert own, "each program ships its own templates"
    from issuebot.plan import Context, PairView, Plan

    ctx = Context(program=program, templates=templates, now=datetime(2027, 1, 1, tzinfo=timezone.utc), trigger="sync")
    sample = Plan(PairView(pair=program.pairs[0], project_path="", project=None), ctx).render_context(
        goal={"title": "sample", "due": None, "actions": []}, session={"number": 1, "due": date(2027, 1, 1)})
    for template in own + [extra.template for extra in program.settings.onboarding_issues]:
        templates.render(template, **sample)  # raises TemplateError naming file and line
    validated = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert validated.exit_code == 0 and f"{name}.yml: ok" in validated.output, validated.output


def test_pal_two_way_kpis_one_to_ones_quarterly_review_and_mentor_feedback(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "pal")
    run.sync("2027-01-11T09:00:00+00:00")
    sam = run.issues("sam-liam")
    assert "payments" in sam["kickoff"].body and "joins the delivery project" in sam["kickoff"].body
    assert sam["extra:kpi-mentee"].title == "KPIs: Sam Singh's growth"
    assert sam["extra:kpi-mentee"].assignees == ("sam",) and sam["extra:kpi-mentee"].due == date(2027, 2, 1)
    assert sam["extra:kpi-mentor"].title == "KPIs: Liam Lee supporting Sam Singh"
    assert sam["extra:kpi-mentor"].assignees == ("liam",)
    assert "pair::kickoff" in sam["progress"].labels and "session::planned" in sam["session:1"].labels
    assert run.issues("tess-nora")["progress"].body.count("2027-04-09") >= 1  # a short link

    said = run.say("sam-liam", "session:1", "/session 2027-01-20 45m", "sam", "2027-01-20T10:00:00+00:00")
    assert "session 1 is logged as held" in said
    sam = run.issues("sam-liam")
    assert "session::held" in sam["session:1"].labels and sam["session:1"].state == "closed"
    assert sam["session:2"].due == date(2027, 2, 3) and run.status("sam-liam") == "active"

    run.sweep_twice("2027-01-29T09:00:00+00:00")  # tess-nora's first one-to-one is overdue
    [nudge] = run.bot_comments("tess-nora", "session:1", "nudge")
    assert "@tess" in nudge.body
    assert not run.bot_comments("sam-liam", "session:2", "nudge")

    run.sweep_twice("2027-02-22T09:00:00+00:00")  # six weeks in: feedback to the mentor
    feedback = run.issues("sam-liam")["feedback:1"]
    assert feedback.title == "Feedback to Liam Lee, round 1" and feedback.assignees == ("sam",)

    run.sweep_twice("2027-03-26T09:00:00+00:00")  # the short link nears its end
    # The link never met: the wrap-up issue opens and it stays flagged for the coordinators.
    assert "wrapup" in run.issues("tess-nora") and run.status("tess-nora") == "stale"
    assert "wrapup" not in run.issues("sam-liam")

    run.say("sam-liam", "session:2", "/session 2027-04-08 45m", "liam", "2027-04-08T10:00:00+00:00")
    run.sweep_twice("2027-04-12T09:00:00+00:00")  # a quarter in: review against the framework
    review = run.issues("sam-liam")["review:1"]
    assert review.title.startswith("Quarterly review 1") and "performance framework" in review.body
    assert "@priya, you are invited" in review.body  # the manager coordinates PAL: a member of the project
    assert run.report()["sam-liam"]["mentor_hours"] == 1.5
    run.cli("tracker", "close", "sam-liam", "extra:kpi-mentee", "--as", "sam", "--now", "2027-04-12T10:00:00+00:00")
    summary = run.check_summary("2027-04-12T12:00:00+00:00")
    assert (summary["kpis_total"], summary["kpis_done"]) == (2 * len(run.program.pairs), 1)
    assert summary["months"][-1]["kpis_done"] == 1


def test_department_pilot_is_mentee_led_with_agendas_goal_matrix_and_ending_checklist(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "department-pilot")
    run.sync("2027-02-01T09:00:00+01:00")
    issues = run.issues("rita-omar")
    kickoff = issues["kickoff"].body
    assert "First coffee chat" in kickoff
    for row in ("The mentee leads", "Boundaries", "Goals", "Trust", "Confidentiality", "Growth mindset"):
        assert f"| {row} |" in kickoff
    goal = issues["goal:1"].body
    assert "| Time-bound | Certain | Specific | Positive | Measurable | Personal |" in goal
    assert "## Purpose statement" in goal and "- [ ] Rebuild one sales model in dbt with Omar" in goal
    assert "## Sync agenda" in issues["session:1"].body and "## Async agenda" in issues["session:1"].body
    assert issues["session:1"].due == date(2027, 2, 15)  # every other week
    assert "## Omar Ortiz (mentor)" in issues["extra:both-goals"].body
    assert "40 minutes" in issues["session:1"].body

    run.say("rita-omar", "session:1", "/session 2027-02-12 30m async", "rita", "2027-02-12T10:00:00+01:00")
    issues = run.issues("rita-omar")
    assert "session::held" in issues["session:1"].labels and issues["session:2"].due == date(2027, 2, 26)
    log = markers.read_state(issues["progress"].body)["sessions"]
    assert log[0]["mode"] == "async" and log[0]["minutes"] == 30

    run.sweep_twice("2027-03-03T09:00:00+01:00")  # session 2 overdue: the mentee hears first
    [nudge] = run.bot_comments("rita-omar", "session:2", "nudge")
    assert "@rita" in nudge.body and "@omar" not in nudge.body

    run.sweep_twice("2027-05-18T09:00:00+02:00")  # two weeks before the end: the ending checklist
    wrapup = run.issues("rita-omar")["wrapup"].body
    assert "Retrospective" in wrapup and "Share the results with your manager" in wrapup and "Stay connected" in wrapup
    assert run.status("rita-omar") == "wrapping-up"
    run.cli("tracker", "close", "rita-omar", "extra:both-goals", "--as", "omar", "--now", "2027-05-18T10:00:00+02:00")
    summary = run.check_summary("2027-05-18T12:00:00+02:00")
    assert summary["goals_done"] == 1  # the shared goal tracker, with the mentor's half, counts as a goal


def test_volunteer_scheme_introduces_pairs_takes_feedback_and_rematches_privately(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "volunteer-scheme")
    run.sync("2027-03-01T09:00:00+00:00")
    issues = run.issues("wes-ursula")
    assert issues["kickoff"].title == "Introduction: Wes Wong, meet Ursula Unger"
    assert "set up your first meeting yourselves" in issues["kickoff"].body
    assert "external mentor" in issues["kickoff"].body and "/rematch wes-ursula" in issues["kickoff"].body
    assert issues["session:1"].due == date(2027, 4, 1)  # one hour a month

    run.say("wes-ursula", "session:1", "/session 2027-03-20 1h", "ursula", "2027-03-20T18:00:00+00:00")
    run.sweep_twice("2027-05-03T09:00:00+00:00")  # two months in: feedback from both sides
    feedback = run.issues("wes-ursula")["feedback:1"]
    assert "@wes (mentee)" in feedback.body and "@ursula (mentor)" in feedback.body

    run.cli("rematch", "request", "--as", "wes", "--note", "we never meet", "--now", "2027-05-04T09:00:00+00:00")
    out = run.cli("rematch", "apply", "--now", "2027-05-05T09:00:00+00:00")
    assert "re-matched 1 pairing(s)" in out
    assert run.status("wes-ursula") == "ended"
    assert not any("we never meet" in c.body for c in run.comments("wes-ursula", "progress"))
    assert "; 0 writes" in run.cli("rematch", "apply", "--now", "2027-05-06T09:00:00+00:00")
    proposals = yaml.safe_load(run.cli("match", "--now", "2027-05-06T09:00:00+00:00"))["pairs"]
    assert {(p["mentor"], p["mentee"]) for p in proposals} == {("ken", "wes"), ("ken", "yara")}
    assert all(p["starts"] == date(2027, 5, 6) for p in proposals)
    summary = run.check_summary("2027-05-06T09:00:00+00:00")
    assert summary["rematches"] == 1 and summary["by_status"]["ended"] == 1
    april = next(m for m in summary["months"] if m["month"] == "2027-04")
    assert april["sessions_held"] == 0 and april["mentor_hours"] == 0  # a quiet month shows zeros


def test_skills_exchange_bounded_coaching_lunch_and_learn_and_mentor_hours(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "skills-exchange")
    run.sync("2027-04-05T09:00:00-04:00")
    issues = run.issues("jade-ivan")
    assert issues["kickoff"].title == "Coaching: Jade Jones learns from Ivan Ilic"
    assert not any(k.startswith("extra:") for k in issues)  # the lunch and learn is the team's, not the pair's
    assert run.space() == {}  # the team's space is there, its lunch and learn not due yet
    assert issues["session:1"].due == date(2027, 4, 12)

    for day in ("2027-04-12", "2027-04-19", "2027-04-26"):
        session = next(k for k, i in run.issues("jade-ivan").items() if k.startswith("session:") and i.state == "open")
        assert "logged as held" in run.say("jade-ivan", session, f"/session {day} 30m", "jade", f"{day}T12:00:00-04:00")
    run.sweep_twice("2027-05-02T09:00:00-04:00")
    assert run.space() == {}
    run.sweep_twice("2027-05-03T09:00:00-04:00")  # its day
    key = "activity:lunch-and-learn-terraform:2027-05-03"
    assert list(run.space()) == [key]
    lunch = run.space()[key]
    assert lunch.title == "Lunch and learn: Terraform (2027-05-03)" and lunch.assignees == ("ivan",)
    assert "@ivan, you are the team's expert here: you lead this session for everyone" in lunch.body
    assert run.tracker.as_user("jade").list_issues(lunch.project)  # everyone in the team reads it
    run.say("team", key, "Thanks, very clear!\n/attended", "jade", "2027-05-03T13:00:00-04:00")
    assert markers.read_state(run.space()[key].body)["attendees"] == ["jade"]  # recorded at once

    run.sweep_twice("2027-05-10T09:00:00-04:00")  # a week before the stint ends
    assert "wrapup" in run.issues("jade-ivan") and run.status("jade-ivan") == "wrapping-up"
    row = run.report()["jade-ivan"]
    assert row["sessions_held"] == 3 and row["mentor_hours"] == 1.5
    assert "cohort:ivan" not in run.report()  # credited once held, not before
    assert "mentor hours" in run.cli("report")
    run.cli("tracker", "close", "team", key, "--as", "ivan", "--now", "2027-05-11T13:00:00-04:00")
    run.sweep_twice("2027-05-12T09:00:00-04:00")
    host = run.report()["cohort:ivan"]
    assert (host["mentor_hours"], host["activities_hosted"]) == (1.0, 1)  # the lunch and learn, credited once
    assert run.report()["jade-ivan"]["mentor_hours"] == 1.5
    summary = run.check_summary("2027-05-12T18:00:00-04:00")
    assert (summary["session_hours"], summary["credited_hours"]) == (1.5, 1.0)


def test_structured_programme_code_of_conduct_bios_monthly_feedback_and_sponsor_report(tmp_path: Path) -> None:
    run = ProgramRun(tmp_path, "structured-programme")
    run.sync("2027-01-18T09:00:00+01:00")
    issues = run.issues("dora-abe")
    assert "Twenty years in logistics" in issues["kickoff"].body
    conduct = issues["extra:code-of-conduct"]
    assert conduct.due == date(2027, 2, 1) and "- [ ] @dora (Dora Diaz) has read and agrees" in conduct.body
    assert "demystify new tools" in run.issues("eli-cleo")["kickoff"].body  # reverse mentoring

    run.say("dora-abe", "session:1", "/session 2027-02-10 1h", "dora", "2027-02-10T10:00:00+01:00")
    run.sweep_twice("2027-02-18T09:00:00+01:00")
    assert "feedback:1" in run.issues("dora-abe")
    run.sweep_twice("2027-03-18T09:00:00+01:00")  # monthly rounds
    assert "feedback:2" in run.issues("dora-abe")
    assert run.space() == {}  # the core mentor group first meets in the week the reviews open
    run.sweep_twice("2027-04-19T09:00:00+02:00")  # quarterly reviews, and the core group meets
    review = run.issues("dora-abe")["review:1"]
    assert review.title.startswith("Review 1") and "_Share a summary with your manager" in review.body  # not invited
    key = "activity:core-group:2027-04-19"
    assert list(run.space()) == [key]
    meeting = run.space()[key]
    assert meeting.title == "Core mentor group meeting: 2027-04-19" and meeting.assignees == ()
    assert "never what a mentee or a pair told" in meeting.body and "assign this issue to yourself" in meeting.body
    assert run.tracker.as_user("eli").list_issues(meeting.project)  # the whole programme reads it
    run.tracker.as_user("zoe").update_issue(meeting.project, meeting.number, assignees=["abe"])  # abe chairs
    run.say("community", key, "/attended", "cleo", "2027-04-21T11:00:00+02:00")
    run.cli("tracker", "close", "community", key, "--as", "zoe", "--now", "2027-04-21T12:00:00+02:00")
    run.sweep_twice("2027-04-22T09:00:00+02:00")
    record = markers.read_state(run.space()[key].body)
    assert (record["hosts"], record["attendees"], record["credited"]) == (["abe"], ["cleo"], 60)

    conduct = run.issues("dora-abe")["extra:code-of-conduct"]
    run.tracker.as_user("dora").update_issue(conduct.project, conduct.number, body=conduct.body.replace(
        "- [ ] @dora", "- [x] @dora"))
    summary = run.check_summary("2027-04-22T12:00:00+02:00")
    assert (summary["signatures"], summary["signatures_expected"], summary["pairs_signed"]) == (1, 4, 0)
    assert summary["credited_hours"] == 1.0  # the chair of the core group meeting, once
    assert "Twenty years" not in run.cli("report", "--summary", "--format", "html", "--now", "2027-04-22T12:00:00+02:00")

    report = run.cli("report", "--format", "json")
    assert "Twenty years" not in report and "What has helped you most" not in report  # metadata only
    rows = {r["pair"]: r for r in json.loads(report)}
    assert set(rows) == {"dora-abe", "eli-cleo", "cohort:abe"}
    assert (rows["cohort:abe"]["mentor_hours"], rows["cohort:abe"]["activities_hosted"]) == (1.0, 1)

    data = yaml.safe_load(run.path.read_text())
    data["pairs"] = []
    run.path.write_text(yaml.safe_dump(data, sort_keys=False))
    proposed = run.cli("match", "--explain", "--no-tracker")
    pairs = {(p["mentor"], p["mentee"]) for p in yaml.safe_load(proposed)["pairs"]}
    assert pairs == {("abe", "dora"), ("cleo", "eli")}
    assert "same learning_style: discussion" in proposed and "same sector: logistics" in proposed
