"""Two real `issuebot sweep` processes started together against one forge fake write nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from issuebot import markers
from issuebot.config import GitHubProviderConfig, load_program
from issuebot.plan import index_issues
from issuebot.providers.github import GitHubProvider
from issuebot.reconcile import reconcile_program
from issuebot.templates import Templates
from tests.conftest import Clock, program_data, write_program
from tests.fakes.github_server import BOT_TOKEN, github_server
from tests.test_sweep import START, at

NOW = "2027-01-28T09:00:00+00:00"


def test_two_sweep_processes_started_together_write_nothing_twice(tmp_path: Path, clock: Clock, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", BOT_TOKEN)
    with github_server(clock) as server:
        for person in ("alice", "bob", "carol", "dave", "dana"):
            server.fake.add_user(person)
        server.fake.add_user("erin", token="ghp_fake_erin")
        # On 01-28 bob-alice is nudged and escalated (stale 3 days past due), erin-dave's missed
        # `/session` is answered and session 2 opened, and both pairs' first feedback round opens.
        data = program_data(server.provider_config(), nudges={"escalate_after": "3d"}, feedback={"first_after": "17d"})
        config = write_program(tmp_path / "program.yml", data)
        program = load_program(config)
        bot = GitHubProvider(GitHubProviderConfig.model_validate(server.provider_config()), clock=clock)
        assert not reconcile_program(bot, program, Templates(), trigger="sync", now=START).outcome.errors
        clock.set(at("2027-01-27"))
        monkeypatch.setenv("ERIN_TOKEN", "ghp_fake_erin")
        erin = GitHubProvider(GitHubProviderConfig.model_validate(server.provider_config("ERIN_TOKEN")), clock=clock)
        path = {p.id: bot.project_path(program.project_name(p)) for p in program.pairs}
        session = index_issues(bot.list_issues(path["erin-dave"]))["session:1"]
        erin.create_comment(path["erin-dave"], session.number, "/session 2027-01-26")  # no webhook: a missed command
        clock.set(at("2027-01-28"))

        server.hold_writes_until_read_by(2)  # both runs read the tracker before either writes
        env = {**os.environ, "GITHUB_TOKEN": BOT_TOKEN, "ISSUEBOT_CONFIG": ""}
        command = [sys.executable, "-m", "issuebot.cli", "sweep", "--json", "-c", str(config), "--now", NOW]
        runs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        summaries = [json.loads(out) for out, _ in outputs]
        # Both runs decided on the tracker as it was before either wrote: each meant to escalate
        # bob-alice and to open the same issues...
        opened = ["bob-alice:feedback:1", "erin-dave:session:2", "erin-dave:feedback:1"]
        assert all(s["escalated"] == ["bob-alice"] and s["opened"] == opened for s in summaries), summaries
        assert sum(s["writes"] for s in summaries) > 0 and all(not s["errors"] for s in summaries)

        found: Counter[tuple[str, str]] = Counter()
        for repo in (*path.values(), bot.project_path(program.settings.coordinator_project)):
            for issue in bot.list_issues(repo, state="all"):
                found[(repo, markers.find_marker(issue.body) or f"#{issue.number}")] += 1
                for comment in bot.list_comments(repo, issue.number):
                    if comment.author == bot.bot_username:
                        found[(repo, markers.find_marker(comment.body) or "")] += 1
        assert [key for key, count in found.items() if count > 1] == []  # ...and everything exists once
        kinds = Counter(key.split(":", 1)[0] for _, key in found)
        assert kinds["nudge"] == 1 and kinds["escalation"] == 1 and kinds["ack"] == 1, kinds
        assert (path["erin-dave"], "session:2") in found and kinds["feedback"] == 2 and kinds["dashboard"] == 1, kinds
