"""`issuebot doctor`: read-only checks of the forge before the first write, and which findings block."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from issuebot.config import Program
from issuebot.models import Project
from issuebot.providers.base import AccessReport, Diagnosable, HookReport, Provider, ProviderError


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: fine, worth a look, or a problem that stops `sync` (blocking)."""

    check: str
    ok: bool
    message: str
    blocking: bool = False

    def line(self) -> str:
        mark = "ok" if self.ok else ("error" if self.blocking else "warning")
        return f"{mark}: {self.check}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def blocks(findings: Sequence[Finding]) -> bool:
    return any(f.blocking for f in findings)


# --------------------------------------------------------------------------- pure decisions


def access_finding(report: AccessReport, where: str) -> Finding:
    if report.missing:
        return Finding("access", False, f"{report.account} lacks " + "; ".join(report.missing), blocking=True)
    return Finding("access", True, f"signed in as {report.account} ({report.role} in {where})")


def people_findings(forge: str, missing: Sequence[str], members: Sequence[str], checked: int) -> list[Finding]:
    """One line per username the forge does not know, with the closest member's name when one is near."""
    found = []
    for username in missing:
        close = difflib.get_close_matches(username, list(members), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        found.append(Finding("people", False, f"{forge} has no user {username!r}{hint}; fix that person's "
                             f"username or handles.{forge}", blocking=True))
    return found or [Finding("people", True, f"all {checked} usernames exist on {forge}")]


def coordinator_project_finding(path: str, projects: Sequence[Project]) -> Finding:
    if any(project.path == path for project in projects):
        return Finding("coordinator project", True, f"{path} exists")
    return Finding("coordinator project", True, f"{path} does not exist yet; sync creates it")


def hook_finding(url: str, report: HookReport | None) -> Finding:
    if report is None:
        return Finding("webhook", False, f"no webhook delivers to {url}; add one (the sweep still runs the "
                       "program, only later)", blocking=True)
    if not report.active:
        return Finding("webhook", False, f"the webhook for {url} is disabled; re-enable it", blocking=True)
    if report.missing_events:
        return Finding("webhook", False, f"the webhook for {url} does not send "
                       f"{', '.join(report.missing_events)}; tick those events", blocking=True)
    if report.last_delivery_ok is False:
        return Finding("webhook", False, f"the latest delivery to {url} failed; see the hook's recent deliveries")
    latest = "no delivery yet" if report.last_delivery_ok is None else "the latest delivery succeeded"
    return Finding("webhook", True, f"{url} receives the events issuebot needs; {latest}")


# --------------------------------------------------------------------------- the checks (read-only calls)


def diagnose(provider: Provider, program: Program, *, webhook_url: str | None = None,
             cheap: bool = False) -> list[Finding]:
    """Run the checks through the provider's read-only verbs; `cheap` stops after the credentials."""
    if not isinstance(provider, Diagnosable):
        return [Finding("access", True, f"{provider.kind} has no read-only checks to run")]
    where = program.settings.provider
    scope = getattr(where, "group", None) or getattr(where, "org", None) or "the tracker"
    try:
        provider.check_access()
        findings = [access_finding(provider.access_report(), scope)]
    except ProviderError as exc:
        return [Finding("access", False, str(exc), blocking=True)]
    if cheap:
        return findings
    try:
        forge = provider.kind
        handles = sorted({person.handle(forge) for person in program.people.values()})
        missing = provider.missing_usernames(handles)
        members = provider.member_usernames() if missing else []
        findings += people_findings(forge, missing, members, len(handles))
        coordination = provider.project_path(program.settings.coordinator_project)
        findings.append(coordinator_project_finding(coordination, provider.list_projects()))
        if webhook_url:
            findings.append(hook_finding(webhook_url, provider.hook_report(webhook_url)))
    except ProviderError as exc:
        findings.append(Finding("tracker", False, str(exc), blocking=True))
    return findings
