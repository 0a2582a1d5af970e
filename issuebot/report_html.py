"""The summary as HTML: the context the web page and the mailable one-file report share, and that report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from issuebot import charts
from issuebot.summary import MONTH_COLUMNS, Summary, headline_rows

WEB = Path(__file__).resolve().parent / "web"


def summary_context(summary: Summary, status_link: Callable[[str], str] | None = None) -> dict[str, Any]:
    """What `_summary.html` shows: headline figures, the charts (inline SVG) and the months."""
    return {
        "summary": summary,
        "headlines": headline_rows(summary),
        "month_columns": MONTH_COLUMNS,
        "linked": status_link is not None,
        "charts": {
            "status": Markup(charts.status_chart(summary, status_link)),
            "months": Markup(charts.monthly_chart(summary)),
            "hours": Markup(charts.hours_chart(summary)),
        },
    }


def standalone(summary: Summary) -> str:
    """One self-contained HTML file (styles and charts inline, no script, nothing fetched) to mail to a sponsor."""
    env = Environment(loader=FileSystemLoader(WEB), autoescape=select_autoescape(["html"]))
    css = Markup((WEB / "static" / "issuebot.css").read_text(encoding="utf-8"))
    return env.get_template("report.html").render(css=css, **summary_context(summary))
