"""The table (Markdown, so that it can go into the README as printed) and the JSON file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .measure import COLUMNS, Row

HEADERS = ("scenario", "measure", "unit", "API p50", "API p95", "direct p50", "direct p95", "API/direct",
           "CouchDB req / API req", "peak RSS MB", "RSS growth MB", "goal", "met")


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def met(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "**no**")


def cells(row: Row) -> list[str]:
    return [row.scenario, row.measure, row.unit, number(row.api_median), number(row.api_p95),
            number(row.direct_median), number(row.direct_p95), number(row.ratio),
            number(row.couch_requests_per_api_request), number(row.peak_rss_mb), number(row.rss_growth_mb),
            row.goal or "", met(row.met)]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    return "\n".join(f"- {row.scenario}, {row.measure}: {row.notes}" for row in rows if row.notes)


def goals(rows: list[Row]) -> str:
    found = [row for row in rows if row.goal]
    return "\n".join(f"- {'met' if row.met else 'NOT met'}: {row.scenario}, {row.measure} ({row.goal})"
                     for row in found)


def render(rows: list[Row]) -> str:
    return f"{table(rows)}\n\nNotes:\n{notes(rows)}\n\nGoals:\n{goals(rows)}\n"


def write_json(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "columns": list(COLUMNS), "rows": [row.as_json() for row in rows],
                "goals": [{"scenario": row.scenario, "measure": row.measure, "goal": row.goal, "met": row.met}
                          for row in rows if row.goal]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
