"""``python -m fairlib report``: REPORT.md and REPORT.html from the results JSONs of every notebook."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from . import paths
from .claims import CLAIMS, PAPERS
from .report import atomic_write, git_commit, package_versions, read_results

__all__ = ["build_report", "report_rows"]

_FIELDS = ("paper", "ours", "difference", "verdict")


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report_rows(profile: str) -> dict[str, dict]:
    """Per notebook: its results JSON's claims, or the catalogue's claims marked not run.

    Returns
    -------
    dict
        ``{"01": {"ran": bool, "commit": str|None, "rows": [{"claim", "paper", "ours", "difference",
        "verdict"}, ...]}, ...}``
    """
    out = {}
    for notebook, claims in CLAIMS.items():
        results = read_results(notebook, profile=profile)
        if results is None:
            rows = [{"claim": c, "paper": None, "ours": None, "difference": None,
                     "verdict": "not run at this profile"} for c in claims]
            out[notebook] = {"ran": False, "commit": None, "rows": rows}
        else:
            rows = [{"claim": r.get("claim"), **{k: r.get(k) for k in _FIELDS}} for r in results.get("claims", [])]
            out[notebook] = {"ran": True, "commit": results.get("git_commit"), "rows": rows}
    return out


def _markdown(profile: str, sections: dict[str, dict]) -> str:
    versions = package_versions()
    lines = [f"# Reproduction report — profile `{profile}`", "",
             f"Commit `{git_commit()}`; " + ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    if profile != "full":
        lines += ["> Numbers at this profile come from stand-in data or backbones wherever the notebooks say so; "
                  "they test the methods' behaviour, they are not the papers' results.", ""]
    for notebook, section in sections.items():
        lines += [f"## {notebook} · {PAPERS[notebook]}", ""]
        if not section["ran"]:
            lines += [f"Notebook {notebook} has not run at profile `{profile}`.", ""]
        lines += ["| claim | paper | ours | difference | verdict |", "|---|---|---|---|---|"]
        for row in section["rows"]:
            lines.append("| " + " | ".join(_fmt(row[k]).replace("|", "/") for k in ("claim", *_FIELDS)) + " |")
        lines.append("")
    return "\n".join(lines)


def _html(markdown: str, figures: list[Path]) -> str:
    body, in_table = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not in_table else "td"
            body.append(("<table>" if not in_table else "") + "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells)
                        + "</tr>")
            in_table = True
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{html.escape(line[2:])}</blockquote>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    if figures:
        body.append("<h2>Figures</h2>")
    for figure in figures:
        data = base64.b64encode(figure.read_bytes()).decode()
        body.append(f"<figure><img src='data:image/png;base64,{data}' style='max-width:100%'>"
                    f"<figcaption>{html.escape(figure.stem)}</figcaption></figure>")
    style = "body{font-family:sans-serif;max-width:70em;margin:auto}td,th{border:1px solid #ccc;padding:3px}" \
            "table{border-collapse:collapse}"
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>" \
           + "\n".join(body) + "</body></html>\n"


def build_report(profile: str) -> tuple[Path, Path]:
    """Write ``figures/<profile>/REPORT.md`` and ``REPORT.html`` (figures inline); return both paths."""
    folder = paths.figures_dir(profile)
    text = _markdown(profile, report_rows(profile))
    md = atomic_write(folder / "REPORT.md", lambda t: t.write_text(text + "\n", encoding="utf-8"))
    figures = sorted(p for p in folder.glob("[0-9][0-9]_*.png"))
    page = _html(text, figures)
    page_path = atomic_write(folder / "REPORT.html", lambda t: t.write_text(page, encoding="utf-8"))
    return md, page_path
