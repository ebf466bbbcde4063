"""``python -m fairlib report``: REPORT.md and REPORT.html from the results JSONs of every notebook.

Every row of the report comes from a notebook's results JSON (``figures/<profile>/NN_results.json``, its
``claims`` list); a notebook without one at this profile contributes the catalogue's claims
(:data:`fairlib.claims.CLAIMS`), each reading "not run at this profile". Verdicts are normalised into the
issue's three categories (:data:`VERDICTS`) by :func:`normalize_verdict`; the notebook's own wording is kept
beside it ("detail").
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from . import paths
from .claims import CLAIMS, PAPERS
from .report import atomic_write, git_commit, package_versions, paper_vs_reproduced, read_results

__all__ = ["build_report", "report_rows", "normalize_verdict", "VERDICTS", "TOLERANCE_POOLED_STD",
           "TOLERANCE_RELATIVE"]

REPRODUCED, NOT_REPRODUCED, NOT_RUN = "reproduced", "not reproduced", "not run at this profile"
#: The three verdicts of the report.
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_RUN)
#: A numeric claim without a verdict of its own is reproduced when ours is within this many pooled standard
#: deviations of the paper's value (both spreads as reported) ...
TOLERANCE_POOLED_STD = 2.0
#: ... or, when no spread is known, within this fraction of the paper's value (exactly equal for integers).
TOLERANCE_RELATIVE = 0.05

# Notebook verdict wordings, by prefix (lower case), and the category each belongs to. "Same direction, not
# significant" and "no significant difference" did not show the claim: they read as not reproduced.
_PREFIXES = ((NOT_RUN, NOT_RUN), ("not run", NOT_RUN), ("not reproduced", NOT_REPRODUCED),
             ("same direction", NOT_REPRODUCED), ("no significant", NOT_REPRODUCED), ("does not hold", NOT_REPRODUCED),
             ("reproduced", REPRODUCED), ("holds", REPRODUCED))
_FIELDS = ("paper", "ours", "difference", "verdict", "detail")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalize_verdict(verdict: str | None, *, paper=None, ours=None, difference_in_pooled_std: float | None = None
                      ) -> tuple[str, str]:
    """The report's verdict (one of :data:`VERDICTS`) of a claim row, and the detail text kept beside it.

    Parameters
    ----------
    verdict : str or None
        The notebook's verdict (``"reproduced"``, ``"same direction, not significant"``, ``"compared"``, ...).
    paper, ours : number, str or None
        The paper's value and ours; ``ours is None`` means the claim was not run.
    difference_in_pooled_std : float, optional
        ``(ours - paper) / pooled std`` when both spreads are known.

    Returns
    -------
    (verdict, detail)
        The rules, in order: nothing of ours -> not run; a verdict starting with a known wording (see
        ``_PREFIXES``) -> its category; a numeric comparison without a verdict (``"compared"`` or none) ->
        reproduced within :data:`TOLERANCE_POOLED_STD` pooled stds, or within :data:`TOLERANCE_RELATIVE` of the
        paper's value when no spread is known (integers: exactly); anything else -> not reproduced (the report
        never claims a reproduction it cannot see). ``detail`` is the notebook's own wording, or the rule applied.
    """
    text = (verdict or "").strip()
    lowered = text.lower()
    for prefix, category in _PREFIXES:
        if lowered.startswith(prefix):
            return category, "" if lowered == category else text
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return NOT_RUN, f"notebook verdict: {text}" if lowered not in ("", "compared") else ""
    if lowered in ("", "compared") and _number(paper) and _number(ours):
        if difference_in_pooled_std is not None and _number(difference_in_pooled_std):
            close = abs(difference_in_pooled_std) <= TOLERANCE_POOLED_STD
            return (REPRODUCED if close else NOT_REPRODUCED,
                    f"{abs(difference_in_pooled_std):.2f} pooled std from the paper's value "
                    f"(tolerance {TOLERANCE_POOLED_STD:g})")
        if isinstance(paper, int) and isinstance(ours, int):
            return (REPRODUCED if paper == ours else NOT_REPRODUCED), "exact count"
        close = abs(ours - paper) <= TOLERANCE_RELATIVE * abs(paper)
        return (REPRODUCED if close else NOT_REPRODUCED,
                f"within {TOLERANCE_RELATIVE:.0%} of the paper's value" if close else
                f"more than {TOLERANCE_RELATIVE:.0%} from the paper's value (no spread reported)")
    return NOT_REPRODUCED, f"notebook verdict: {text}" if text else "no verdict recorded"


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def _rows_from_results(claims: list[dict], *, profile: str) -> list[dict]:
    if not claims:
        return []
    # The same arithmetic for every notebook: the difference and the pooled-std distance are the report's.
    table = paper_vs_reproduced([{**c, "claim": str(c.get("claim"))} for c in claims], profile=profile)
    rows = []
    for claim, (_, t) in zip(claims, table.reset_index().iterrows()):
        # Recomputed from the stds when the row has them, else as the notebook recorded it (a table row).
        pooled = next((float(v) for v in (t["difference_in_pooled_std"], claim.get("difference_in_pooled_std"))
                       if _number(v)), None)
        # paper_vs_reproduced's verdict: the row's own, or from its "holds" flag, or "compared" / "not run".
        verdict, detail = normalize_verdict(t["verdict"], paper=claim.get("paper"), ours=claim.get("ours"),
                                            difference_in_pooled_std=pooled)
        difference = t["difference"]
        rows.append({"claim": claim.get("claim"), "paper": claim.get("paper"), "ours": claim.get("ours"),
                     "difference": None if difference is None or (isinstance(difference, float)
                                                                   and math.isnan(difference)) else difference,
                     "verdict": verdict, "detail": detail})
    return rows


def report_rows(profile: str) -> dict[str, dict]:
    """Per notebook: its results JSON's claims, or the catalogue's claims marked not run.

    Returns
    -------
    dict
        ``{"01": {"ran": bool, "commit": str|None, "written_at": str|None, "profile": str|None,
        "versions": dict, "rows": [{"claim", "paper", "ours", "difference", "verdict", "detail"}, ...]}, ...}``
        with ``verdict`` one of :data:`VERDICTS`.
    """
    out = {}
    for notebook, claims in CLAIMS.items():
        results = read_results(notebook, profile=profile)
        if results is None:
            rows = [{"claim": c, "paper": None, "ours": None, "difference": None, "verdict": NOT_RUN, "detail": ""}
                    for c in claims]
            out[notebook] = {"ran": False, "commit": None, "written_at": None, "profile": None, "versions": {},
                             "rows": rows}
        else:
            out[notebook] = {"ran": True, "commit": results.get("git_commit"), "written_at": results.get("written_at"),
                             "profile": results.get("profile"), "versions": results.get("versions") or {},
                             "rows": _rows_from_results(results.get("claims", []), profile=profile)}
    return out


def _markdown(profile: str, sections: dict[str, dict]) -> str:
    versions = package_versions()
    commit = git_commit()
    lines = [f"# Reproduction report — profile `{profile}`", "",
             f"Built from the results JSONs in `figures/{profile}/` at commit `{commit}`.", "",
             "Package versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    if profile != "full":
        lines += ["> Numbers at this profile come from stand-in data or backbones wherever the notebooks say so; "
                  "they test the methods' behaviour, they are not the papers' results.", ""]
    lines += ["Verdicts: **reproduced**, **not reproduced**, or **not run at this profile**. A notebook's own "
              "wording is kept under *detail* (e.g. *same direction, not significant* reads as not reproduced: the "
              f"claim was not shown). A numeric claim without a verdict of its own is reproduced within "
              f"{TOLERANCE_POOLED_STD:g} pooled standard deviations of the paper's value (within "
              f"{TOLERANCE_RELATIVE:.0%} when no spread is known).", "",
              "| notebook | reproduced | not reproduced | not run at this profile |", "|---|---|---|---|"]
    for notebook, section in sections.items():
        counts = [sum(r["verdict"] == v for r in section["rows"]) for v in VERDICTS]
        lines.append(f"| {notebook} | " + " | ".join(str(c) for c in counts) + " |")
    lines.append("")
    for notebook, section in sections.items():
        lines += [f"## {notebook} · {PAPERS[notebook]}", ""]
        if not section["ran"]:
            lines += [f"Notebook {notebook} has not run at profile `{profile}`: its claims are listed from the "
                      f"catalogue.", ""]
        else:
            lines.append(f"From `{notebook}_results.json`: profile `{section['profile']}`, commit "
                         f"`{section['commit']}`, written {section['written_at']}.")
            if section["profile"] != profile:
                lines.append(f"**Warning:** this file says it was written at profile `{section['profile']}`.")
            differs = {k: v for k, v in section["versions"].items() if v and versions.get(k) and versions[k] != v}
            if differs:
                lines.append("Versions at that run that differ from now: "
                             + ", ".join(f"{k} {v}" for k, v in sorted(differs.items())) + ".")
            lines.append("")
            if not section["rows"]:
                lines += ["Its results JSON records no claims.", ""]
        lines += ["| claim | paper | ours | difference | verdict | detail |", "|---|---|---|---|---|---|"]
        for row in section["rows"]:
            lines.append("| " + " | ".join(_fmt(row[k]).replace("|", "/").replace("\n", " ")
                                            for k in ("claim", *_FIELDS)) + " |")
        lines.append("")
    return "\n".join(lines)


def _inline(line: str) -> str:
    """Escaped text with the report's own Markdown emphasis (``**b**``, ```code```, ``*i*``) as HTML tags."""
    text = html.escape(line)
    for marker, tag in (("**", "b"), ("`", "code"), ("*", "i")):
        parts = text.split(marker)
        if len(parts) % 2 == 1:  # balanced markers only
            text = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return text


def _html(markdown: str, figures: list[Path]) -> str:
    by_notebook: dict[str, list[Path]] = {}
    for figure in figures:
        by_notebook.setdefault(figure.name[:2], []).append(figure)

    def images(figures: list[Path]) -> list[str]:
        out = []
        for figure in figures:
            data = base64.b64encode(figure.read_bytes()).decode()
            out.append(f"<figure><img src='data:image/png;base64,{data}' style='max-width:100%'>"
                       f"<figcaption>{html.escape(figure.stem)}</figcaption></figure>")
        return out

    body, in_table, section = [], False, None
    for line in [*markdown.splitlines(), ""]:
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
            if section is not None:
                body += images(by_notebook.pop(section, []))  # each notebook's figures follow its claims
        if line.startswith("## "):
            section = line[3:5]
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
    rest = [f for notebook in sorted(by_notebook) for f in by_notebook[notebook]]
    if rest:
        body.append("<h2>Other figures</h2>")
        body += images(rest)
    style = "body{font-family:sans-serif;max-width:75em;margin:auto}td,th{border:1px solid #ccc;padding:3px}" \
            "table{border-collapse:collapse}figure{margin:1em 0}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Reproduction report</title><style>{style}" \
           f"</style></head><body>" + "\n".join(body) + "</body></html>\n"


def build_report(profile: str) -> tuple[Path, Path]:
    """Write ``figures/<profile>/REPORT.md`` and ``REPORT.html`` (figures inline); return both paths."""
    folder = paths.figures_dir(profile)
    text = _markdown(profile, report_rows(profile))
    md = atomic_write(folder / "REPORT.md", lambda t: t.write_text(text + "\n", encoding="utf-8"))
    figures = sorted(p for p in folder.glob("[0-9][0-9]_*.png"))
    page = _html(text, figures)
    page_path = atomic_write(folder / "REPORT.html", lambda t: t.write_text(page, encoding="utf-8"))
    return md, page_path
