"""Charts of a program summary as inline SVG, drawn on the server with pygal (no script, no CDN)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pygal
from pygal.style import Style

from issuebot.summary import Summary

# pygal writes a <script> with its own settings for pygal.js tooltips, which are never loaded
# here (no CDN, and a strict Content-Security-Policy forbids inline scripts): drop it.
_SCRIPT_RE = re.compile(r"<script\b.*?</script>", re.DOTALL)
STYLE = Style(background="white", plot_background="white", foreground="#1f2328", foreground_strong="#1f2328",
              foreground_subtle="#57606a", colors=("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df"),
              font_family="system-ui, sans-serif", opacity=".9", opacity_hover="1")


def _svg(chart: pygal.graph.graph.Graph) -> str:
    return _SCRIPT_RE.sub("", chart.render(is_unicode=True))


def _chart(kind: type, title: str) -> pygal.graph.graph.Graph:
    return kind(js=[], disable_xml_declaration=True, style=STYLE, width=720, height=320, title=title,
                show_legend=True, legend_at_bottom=True, print_zeroes=True, x_label_rotation=0, margin=16)


def status_chart(summary: Summary, link: Callable[[str], str] | None = None) -> str:
    """Pairs by status; with `link`, each bar opens the list of the pairs with that status."""
    chart = _chart(pygal.Bar, "Pairs by status")
    chart.x_labels = list(summary.by_status)
    values: list[object] = []
    for status, count in summary.by_status.items():
        values.append({"value": count, "label": status, **({"xlink": {"href": link(status), "target": "_self"}} if link else {})})
    chart.add("pairs", values)
    return _svg(chart)


def monthly_chart(summary: Summary) -> str:
    """Month by month: active pairs, sessions held, pairs newly stale and goals done."""
    chart = _chart(pygal.Line, "Month by month")
    chart.x_labels = [m.month for m in summary.months]
    chart.add("active pairs", [m.active_pairs for m in summary.months])
    chart.add("sessions held", [m.sessions_held for m in summary.months])
    chart.add("newly stale", [m.new_stale for m in summary.months])
    chart.add("goals done", [m.goals_done + m.kpis_done for m in summary.months])
    return _svg(chart)


def hours_chart(summary: Summary) -> str:
    """Mentor hours given per month (sessions and credited activities)."""
    chart = _chart(pygal.Bar, "Mentor hours per month")
    chart.x_labels = [m.month for m in summary.months]
    chart.add("mentor hours", [m.mentor_hours for m in summary.months])
    return _svg(chart)
