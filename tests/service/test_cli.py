"""`issuebot serve` and `issuebot worker`: refusals with exit 2, and a real server answering deliveries."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from issuebot.cli import main
from tests.service.conftest import service_program
from tests.service.helpers import SECRET, SECRET_ENV, comment_body, github_headers

REPO = Path(__file__).resolve().parents[2]


def test_serve_refuses_to_start_without_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    result = CliRunner().invoke(main, ["serve", "-c", str(service_program(tmp_path))])
    assert result.exit_code == 2
    assert SECRET_ENV in result.output and "--insecure-no-verify" in result.output
    assert "Traceback" not in result.output


def test_serve_names_an_unreachable_database_without_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    program = service_program(tmp_path, database_url="postgresql://bot:hunter2@127.0.0.1:1/inbox")
    result = CliRunner().invoke(main, ["serve", "-c", str(program)])
    assert result.exit_code == 2
    assert "cannot open the inbox" in result.output and "127.0.0.1:1" in result.output
    assert "hunter2" not in result.output


def test_worker_names_an_unreachable_queue(tmp_path: Path) -> None:
    program = service_program(tmp_path, queue_url="redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["worker", "-c", str(program)])
    assert result.exit_code == 2
    assert "cannot reach the queue" in result.output and "Redis" in result.output


def start_serve(program: Path, *extra: str) -> subprocess.Popen[str]:
    """A real `issuebot serve --no-worker` on a free port, its messages on stderr."""
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "issuebot.cli", "serve", "-c", str(program), "--port", "0", "--no-worker", *extra],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )


def test_serve_answers_deliveries_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = start_serve(service_program(tmp_path))
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = comment_body()
        answers: list[Any] = []
        for path, method, data, headers in [
            ("/readyz", "GET", None, {}),
            ("/hooks/github", "POST", body, github_headers("issue_comment", body, delivery="cli-1")),
            ("/hooks/github", "POST", body, github_headers("issue_comment", body, delivery="cli-1")),
        ]:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            response.read()
            answers.append(response.status)
        assert answers == [200, 202, 200]
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()


def test_insecure_mode_warns_loudly_and_a_busy_port_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import socket

    monkeypatch.delenv(SECRET_ENV, raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "-c", str(service_program(tmp_path)), "--port", str(port),
                                           "--insecure-no-verify"])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert any("INSECURE" in record.getMessage() and record.levelname == "WARNING" for record in caplog.records)


def test_serve_starts_and_takes_deliveries_while_the_queue_is_down(tmp_path: Path) -> None:
    process = start_serve(service_program(tmp_path, queue_url="redis://127.0.0.1:1/0"), "--processes", "1")
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline()]
        while "listening on" not in lines[-1] and len(lines) < 10:
            lines.append(process.stderr.readline())
        assert any("queued once it is back" in line for line in lines), lines
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", "".join(lines)).group(1))  # type: ignore[union-attr]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = comment_body()
        connection.request("POST", "/hooks/github", body=body, headers=github_headers("issue_comment", body))
        response = connection.getresponse()
        assert response.status == 202 and b"accepted" in response.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()


def _web_processes(serve_pid: int) -> set[int]:
    """The server processes `issuebot serve` started (not the resource tracker)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if parent == serve_pid and b"spawn_main" in command:
            found.add(int(proc.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir() or not hasattr(signal, "SIGKILL"), reason="needs /proc and SIGKILL")
def test_a_web_process_that_dies_is_replaced(tmp_path: Path) -> None:
    import time

    process = start_serve(service_program(tmp_path), "--processes", "2")
    try:
        assert process.stderr is not None
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)",  # type: ignore[union-attr]
                             process.stderr.readline()).group(1))
        before = _web_processes(process.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60  # the supervisor looks every half second
        while len(after := _web_processes(process.pid) - {victim}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(after) == 2 and victim not in after
        # New connections are answered (by the survivor or its new sibling).
        body = comment_body()
        answers = []
        for n in range(20):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", "/hooks/github", body=body,
                               headers=github_headers("issue_comment", body, delivery=f"restart-{n}"))
            answers.append(connection.getresponse().status)
            connection.close()
        assert answers == [202] * 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()


def test_a_web_process_over_its_share_of_connections_sheds_one() -> None:
    from issuebot.server import ConnectionShares

    table = ConnectionShares.create()
    seats: list[ConnectionShares] = []
    try:
        first = ConnectionShares.join(table.memory.name)
        seats.append(first)
        assert first.slot == 0 and not first.crowded(16)  # alone at the table: nobody to share with
        second = ConnectionShares.join(table.memory.name)
        seats.append(second)
        assert second.slot == 1
        # Each call records the caller's count, then compares it with an even share of all.
        assert not second.crowded(0) and first.crowded(16)  # 16 against 0: the first sheds
        assert not second.crowded(8) and not first.crowded(8)  # even
        assert not second.crowded(6) and not first.crowded(10)  # 2 over its share of 8: kept
        assert not second.crowded(5) and first.crowded(11)
        table.numbers[3] = 24  # the second process's count, as it last recorded it
        assert not first.crowded(40) and first.crowded(42)  # a quarter over a share of 32, then 33
        # A slot whose process died is taken by its successor, which starts with no connections.
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        table.numbers[0] = dead.pid
        successor = ConnectionShares.join(table.memory.name)
        seats.append(successor)
        assert successor.slot == 0 and table.numbers[1] == 0
    finally:
        for seat in seats:
            seat.close()
        table.close(remove=True)
