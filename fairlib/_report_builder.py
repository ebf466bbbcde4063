"""``python -m fairlib report``: REPORT.md and REPORT.html from the results JSONs of every notebook.

Every row comes from a notebook's results JSON (``figures/<profile>/NN_results.json``, its ``claims`` list): rows
of the claims engine (:mod:`fairlib.evidence`, validated with :func:`fairlib.evidence.validate_row`) are shown as
they are; a notebook without a results JSON at this profile lists its catalogue claims
(:func:`fairlib.claims.claims_of`) as ``not run`` (reason ``profile``). Checks (:data:`fairlib.claims.CHECKS`) are
listed apart and never counted as reproductions.

Rows in the old free-text format (``claim``/``paper``/``ours``/``verdict`` text) go through
:func:`legacy_row`, the one place where a verdict is read from words; it is removed when notebooks 01-05 emit the
engine's rows.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Optional

from . import paths
from . import fidelity
from .claims import CLAIMS, PAPERS, checks_of, claim, claims_of
from .config import get_profile
from .evidence import Reason, Verdict, not_run, validate_row
from .report import atomic_write, git_commit, package_versions, read_results

__all__ = ["build_report", "report_rows", "legacy_row", "VERDICTS", "FIGURE_CAPTIONS", "figure_caption",
           "TOLERANCE_POOLED_STD", "fidelity_section"]

#: The four verdicts, in the report's column order.
VERDICTS = tuple(v.value for v in Verdict)

#: Captions of the notebooks' figures (the report never captions a figure with its file name).
FIGURE_CAPTIONS = {
    "00_per_group": "Template notebook: a metric per group.",
    "01_fig1_vision": "Paper 1, Fig. 1: LoRA vs full fine-tuning, fairness metrics per vision backbone and task.",
    "01_fig2_language": "Paper 1, Fig. 2: LoRA vs full fine-tuning on the language task, per group.",
    "01_fig3_calibration": "Paper 1, Fig. 3: calibration (ECE) of LoRA and full fine-tuning.",
    "01_fig3b_ece_by_group": "Paper 1: ECE per group, LoRA vs full fine-tuning.",
    "01_fig4_mia_vision": "Paper 1, Fig. 4: membership inference (LiRA) on the vision models, per group.",
    "01_fig5_mia_text": "Paper 1, Fig. 5: membership inference (LiRA) on the language models, per group.",
    "01_rank_ablation": "Paper 1: fairness gaps of LoRA across ranks.",
    "02_group_f1": "Paper 2: F1 per group for LoRA, FairLoRA and (fair) full fine-tuning.",
    "02_lambda_sweep": "Paper 2: fairness and accuracy of FairLoRA across the regulariser weight lambda.",
    "02_rank_sweep": "Paper 2: min-group F1 of LoRA and FairLoRA across ranks.",
    "03_roles_diagram": "Paper 3: who holds the demographic labels in each privacy setting.",
    "03_strategy_bars": "Paper 3: fairness gaps and accuracy per strategy (Erm, Unl, Adv, Orth).",
    "03_tradeoff": "Paper 3: accuracy against fairness gap, per strategy.",
    "04_fig1_pca": "Paper 4, Fig. 1: representations of the groups, standard vs fair pre-training.",
    "04_fig3_fisher": "Paper 4, Fig. 3: Fisher importance of the last layer's units per group.",
    "04_fig4_methods": "Paper 4, Fig. 4: error, Delta_DP and Delta_EO of TL, f+SVD and OURS.",
    "04_fig5_alpha": "Paper 4, Fig. 5: error and gaps of OURS as alpha grows.",
    "04_review_optimiser_lr": "Paper 4 (review): sensitivity of OURS to optimiser and learning rate.",
    "04_review_rank": "Paper 4 (review): OURS across the rank of the factorised head.",
    "05_cost": "Benchmark: trainable parameters and training time per method.",
    "05_pareto": "Benchmark: accuracy against fairness gap per method and task (Pareto view).",
    "06_gap_vs_parameters": "PEFT family: demographic-parity gap against trainable adapter parameters (log scale), "
                            "per method and budget.",
    "06_accuracy_vs_gap": "PEFT family: accuracy against demographic-parity gap per method, 95% intervals over seeds.",
    "06_lira_by_group": "PEFT family: LiRA membership-inference AUC per method and group (each method's target "
                        "against shadows of its own method), 95% bootstrap intervals over the candidates.",
}

#: Captions of figures written once per task (``06_groups_<task>``): the prefix's caption, then the task.
FIGURE_CAPTION_PREFIXES = {"06_groups_": "PEFT family: per-group test accuracy per method (heat map), task"}


def figure_caption(name: str) -> str:
    """The registered caption of figure ``name`` (its stem), or a generic caption naming its notebook."""
    if name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[name]
    for prefix, caption in FIGURE_CAPTION_PREFIXES.items():
        if name.startswith(prefix):
            return f"{caption} {name[len(prefix):]}."
    return f"A figure of notebook {name[:2]} (no caption registered in fairlib._report_builder.FIGURE_CAPTIONS)."


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ====================================================================================================================
# LEGACY ADAPTER (remove when notebooks 01-05 emit fairlib.evidence rows). It reads today's free-text rows into the
# schema, marked legacy=True; a verdict is only ever read from words here.
# ====================================================================================================================
#: A legacy numeric row without a verdict of its own reproduces the paper within this many pooled stds.
TOLERANCE_POOLED_STD = 2.0

_LEGACY_PREFIXES = (  # (notebook, prefix of the legacy claim text, catalogue id or check id)
    ("01", CLAIMS["01"][0], "p1.fairness.dpd"), ("01", CLAIMS["01"][1], "p1.calibration.ece"),
    ("01", CLAIMS["01"][2], "p1.membership.auc"), ("01", CLAIMS["01"][3], "p1.rank.dpd"),
    ("01", CLAIMS["01"][4], "p1.base_model.matters_more"),
    ("02", "FairLoRA fairer than LoRA:", "p2.vs_lora.min_group_f1"),
    ("02", "FairLoRA fairer than Fair FFT:", "p2.vs_fair_fft.min_group_f1"),
    ("02", "Higher rank not needed", "p2.rank.not_needed"),
    ("02", "FairLoRA at rank", "p2.rank.low_rank_fairlora_vs_high_rank_lora"),
    ("03", CLAIMS["03"][0], "p3.orth.reduces_bias"), ("03", CLAIMS["03"][1], "p3.adv.fpr_gap"),
    ("03", CLAIMS["03"][2], "p3.unl.no_clear_benefit"),
    *(("04", text, cid) for text, cid in zip(CLAIMS["04"], (
        "p4.table3.ours_error", "p4.table3.ours_eo_sum", "p4.table3.ours_dpd", "p4.ours.reduces_bias",
        "p4.ours.error_below_retrain", "p4.ours.other_gap_below_retrain", "p4.retrain.error_rises",
        "p4.fair_pretraining.bias_rises", "p4.fig4.adult.error", "p4.fig4.adult.gaps", "p4.fig4.images",
        "p4.fig1.separation", "p4.fig3.important_weights_differ", "p4.table4.depth", "p4.fig5.error_falls",
        "check.p4.parameters_ours", "check.p4.full_rank_identity"))),
    ("05", "Paper 1: LoRA not less fair", "x.p1.lora_not_less_fair"),
    ("05", "Paper 2: FairLoRA fairer than LoRA", "x.p2.fairlora_vs_lora"),
    ("05", "Paper 2: FairLoRA fairer than fair full FT", "x.p2.fairlora_vs_fair_fft"),
    ("05", "Paper 3: Orth lowers", "x.p3.orth_lowers_dpd"),
    ("05", "Paper 3: Unl gives no clear benefit", "x.p3.unl_no_clear_benefit"),
    ("05", "Paper 4: Fisher-neutralised SVD better than TL", "x.p4.fisher_vs_tl"),
    ("05", "Paper 4: trainable parameters of Fisher", "check.x.parameters_ours"),
    ("05", "Paper 4: trainable parameters of retraining", "check.x.parameters_retrain"),
)

# Legacy wordings -> verdict. "Reproduced" of a claim of no difference (equivalence, flat trend) becomes
# inconclusive: no equivalence test was run, and absence of significance is not evidence of equivalence.
_LEGACY_WORDS = (
    ("not run", Verdict.NOT_RUN), ("within 2 pooled std", Verdict.REPRODUCED),
    ("differs by > 2 pooled std", Verdict.CONTRADICTED), ("same direction, not significant", Verdict.INCONCLUSIVE),
    ("no significant difference", Verdict.INCONCLUSIVE), ("partly", Verdict.INCONCLUSIVE),
    ("weak", Verdict.INCONCLUSIVE), ("reproduced in direction", Verdict.INCONCLUSIVE),
    ("not reproduced in every comparison", Verdict.INCONCLUSIVE), ("not reproduced in full", Verdict.INCONCLUSIVE),
    ("does not hold", Verdict.CONTRADICTED), ("not reproduced", Verdict.CONTRADICTED),
    ("reproduced", Verdict.REPRODUCED), ("holds", Verdict.REPRODUCED),
)


def _legacy_id(notebook: str, text: str) -> Optional[str]:
    for nb, prefix, cid in _LEGACY_PREFIXES:
        if nb == notebook and text.startswith(prefix):
            return cid
    return None


def _legacy_verdict(row: dict) -> tuple[Verdict, str]:
    text = str(row.get("verdict") or "").strip().lower()
    if not text and "holds" in row:
        text = "reproduced" if row["holds"] else "not reproduced"
    ours, paper = row.get("ours"), row.get("paper")
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return Verdict.NOT_RUN, "no value of ours"
    if text in ("", "compared") and _number(paper) and _number(ours):
        stds = [v for v in (row.get("paper_std"), row.get("ours_std")) if _number(v)]
        spread = math.sqrt(sum(v * v for v in stds) / len(stds)) if stds else 0.0
        if spread > 0:
            distance = abs(ours - paper) / spread
            return (Verdict.REPRODUCED if distance <= TOLERANCE_POOLED_STD else Verdict.CONTRADICTED,
                    f"{distance:.2f} pooled std from the paper's value (legacy rule: within "
                    f"{TOLERANCE_POOLED_STD:g})")
        return Verdict.INCONCLUSIVE, "compared without a spread (legacy row)"
    for words, verdict in _LEGACY_WORDS:
        if text.startswith(words):
            if verdict == Verdict.CONTRADICTED and ("not significant" in text or "no meaningful" in text):
                return Verdict.INCONCLUSIVE, "legacy row: no significant difference either way"
            return verdict, "legacy rule of the notebook"
    return Verdict.INCONCLUSIVE, "legacy row with an unrecognised verdict"


def legacy_row(row: dict, *, notebook: str) -> dict:
    """LEGACY: a free-text claim row of today's notebooks as a row of the schema (``legacy: True``), or a check row.

    Fixes the old report's misfiling of notebook 04's ``"within 2 pooled std"`` (now reproduced). The notebook's
    own wording is not shown (it may contradict the verdict); the rule applied is under ``detail``.
    """
    text = str(row.get("claim"))
    cid = _legacy_id(notebook, text)
    verdict, detail = _legacy_verdict(row)
    ours = row.get("ours")
    if cid is not None and cid.startswith("check."):
        holds = verdict == Verdict.REPRODUCED
        return validate_row({"id": cid, "notebook": notebook, "statement": text, "kind": "check",
                             "expected": row.get("paper"), "value": ours, "tolerance": 0.0, "holds": holds,
                             "data": "legacy row"})
    entry = claim(cid) if cid else None
    kind = entry.kind if entry else ("match" if _number(row.get("paper")) else "superiority")
    flat = entry is not None and (entry.kind == "equivalence" or (entry.kind == "trend" and entry.direction == 0))
    if flat and verdict == Verdict.REPRODUCED:
        verdict, detail = Verdict.INCONCLUSIVE, ("legacy row: no significant difference, but no equivalence test "
                                                 "with a margin was run")
    reason = Reason.NONE
    if verdict == Verdict.NOT_RUN:
        reason = Reason.STAND_IN if "stand-in" in str(row.get("verdict")) else Reason.PROFILE
    ci = row.get("ci") if isinstance(row.get("ci"), (list, tuple)) and len(row.get("ci")) == 2 else (None, None)
    low, high = (float(ci[0]), float(ci[1])) if all(_number(v) for v in ci) else (None, None)
    estimate = float(ours) if _number(ours) and verdict != Verdict.NOT_RUN else None
    out = {"id": cid or f"legacy.{notebook}", "notebook": notebook, "statement": text, "kind": kind,
           "metric": entry.metric if entry else None, "direction": entry.direction if entry else 0,
           "margin": entry.margin if entry else None, "estimate": estimate,
           "ci_low": low if estimate is not None else None, "ci_high": high if estimate is not None else None,
           "n": int(row["n"]) if _number(row.get("n")) else 0, "verdict": verdict.value, "reason": reason.value,
           "paper_value": row.get("paper") if _number(row.get("paper")) else None, "mde": None,
           "seeds_needed": None, "evidence": None, "legacy": True,
           "detail": detail + ("" if _number(ours) or ours is None else f"; ours: {ours}"),
           "data": "legacy row (notebook not yet on the claims engine)"}
    return validate_row(out)


# ====================================================================================================================
def _rows_of(notebook: str, recorded: list[dict]) -> tuple[list[dict], list[dict]]:
    claims, checks = [], []
    for row in recorded:
        out = validate_row(row) if "id" in row else legacy_row(row, notebook=notebook)
        (checks if out["kind"] == "check" else claims).append(out)
    return claims, checks


def _catalogue_fidelity(notebook: str, profile: str) -> Optional[list[dict]]:
    """The fidelity rows of the registered profiles (a notebook that has not run, or an older results JSON)."""
    if notebook not in fidelity.NOTEBOOKS:
        return None
    return fidelity.fidelity_rows(notebook, get_profile(profile) if profile in fidelity.ORDER else None)


def fidelity_section(notebook: str, rows: Optional[list[dict]], *, recorded: bool = True) -> list[str]:
    """The "Fidelity" section of one notebook (markdown lines): every row of its fidelity table.

    ``recorded`` says whether the rows come from the notebook's results JSON (the run's configuration) or from the
    catalogue at the registered profiles.
    """
    if not rows:
        return []
    source = ("from its results JSON (the configuration it ran)" if recorded
              else "from the catalogue at the registered profiles (no recorded table)")
    return ([f"### Fidelity · {notebook}", "",
             f"What the paper used and what each profile uses, per figure or table ({source}; `fairlib.fidelity`). "
             "† marks a value that differs from the paper's (or a choice where the paper states none); the last "
             "column quotes the notebook's text that says so.", ""]
            + fidelity.markdown_rows(rows) + [""])


def report_rows(profile: str) -> dict[str, dict]:
    """Per notebook: its claim rows and check rows (schema of :mod:`fairlib.evidence`).

    Returns
    -------
    dict
        ``{"01": {"ran": bool, "commit", "written_at", "profile", "versions", "fidelity": [...] or None,
        "fidelity_recorded": bool, "claims": [...], "checks": [...]}}`` (``fidelity``: the table the notebook recorded,
        else the catalogue's at the registered profiles; None for a notebook without one);
        a notebook that has not run lists its catalogue claims as ``not run`` (profile) and its checks as
        not run.
    """
    out = {}
    for notebook in PAPERS:
        results = read_results(notebook, profile=profile)
        if results is None:
            out[notebook] = {"ran": False, "commit": None, "written_at": None, "profile": None, "versions": {},
                             "fidelity": _catalogue_fidelity(notebook, profile), "fidelity_recorded": False,
                             "claims": [not_run(c, Reason.PROFILE, data=f"no {notebook}_results.json at {profile}")
                                        for c in claims_of(notebook)],
                             "checks": [{"id": k.id, "statement": k.statement, "expected": k.expected, "value": None,
                                         "holds": None} for k in checks_of(notebook)]}
        else:
            claims, checks = _rows_of(notebook, results.get("claims") or [])
            recorded = (results.get("metrics") or {}).get("fidelity")
            out[notebook] = {"ran": True, "commit": results.get("git_commit"), "written_at": results.get("written_at"),
                             "profile": results.get("profile"), "versions": results.get("versions") or {},
                             "fidelity": recorded or _catalogue_fidelity(notebook, profile),
                             "fidelity_recorded": bool(recorded),
                             "claims": claims, "checks": checks}
    return out


def _interval(row: dict) -> str:
    if row["estimate"] is None:
        return "—"
    text = _fmt(row["estimate"])
    if row["ci_low"] is not None:
        level = f" ({row['level']:.1%})" if _number(row.get("level")) else ""
        text += f" [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]{level}"
    return text


def _test(row: dict) -> str:
    kind, direction = row["kind"], row["direction"]
    if kind == "match":
        return f"match {_fmt(row['paper_value'])} ± {_fmt(row['margin'])}"
    if kind == "superiority" or (kind == "trend" and direction):
        side = "> 0" if direction > 0 else "< 0"
        return f"{'slope' if kind == 'trend' else 'A − B'} {side}"
    if direction:
        return f"{'+' if direction > 0 else '−'}(A − B) > −{_fmt(row['margin'])}"
    return f"{'slope' if kind == 'trend' else 'A − B'} within ±{_fmt(row['margin'])}"


def _note(row: dict) -> str:
    parts = []
    if row["verdict"] == Verdict.NOT_RUN.value:
        parts.append(f"reason: {row['reason']}")
        if row.get("evidence"):
            ev = row["evidence"]
            parts.append(f"stand-in evidence {_fmt(ev.get('estimate'))} [{_fmt(ev.get('ci_low'))}, "
                         f"{_fmt(ev.get('ci_high'))}], n={ev.get('n')}")
    if row["verdict"] == Verdict.INCONCLUSIVE.value and row.get("mde") is not None:
        seeds = row.get("seeds_needed")
        parts.append(f"MDE {_fmt(row['mde'])} at n={row['n']}" + (f"; about {seeds} would resolve it" if seeds else
                                                                   "; more seeds alone would not resolve it"))
    if row.get("deciding"):
        parts.append(f"decided by {row['deciding']} (Holm over {len(row.get('comparisons') or [])})")
    if row.get("detail"):
        parts.append(detail_text(row["detail"]))
    return "; ".join(parts)


def detail_text(detail: Any) -> str:
    """A claim row's ``detail`` as a reader reads it: ``key: value`` pairs (nested ones in parentheses), numbers
    to 4 significant digits, number lists as intervals ``[a, b]``; a string as it is."""
    if isinstance(detail, dict):
        return ", ".join(f"{k}: {_detail_value(v)}" for k, v in detail.items())
    return _detail_value(detail)


def _detail_value(value: Any) -> str:
    if isinstance(value, dict):
        return f"({detail_text(value)})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_detail_value(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return _fmt(float(value)) if isinstance(value, float) else str(value)
    return str(value)


def _cell(value: Any) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def _markdown(profile: str, sections: dict[str, dict]) -> tuple[str, dict[str, str]]:
    versions = package_versions()
    head = [f"# Reproduction report — profile `{profile}`", "",
            f"Built from the results JSONs in `figures/{profile}/` at commit `{git_commit()}`.", "",
            "Package versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v), ""]
    if profile != "full":
        head += ["> Numbers at this profile come from stand-in data or backbones wherever the notebooks say so; "
                 "they test the methods' behaviour, they are not the papers' results.", ""]
    head += ["Each claim of the catalogue is tested as declared before any result (see `figures/README.md`): "
             "**reproduced**, **contradicted**, **inconclusive** (with the minimum detectable effect at the "
             "achieved n), or **not run** (with the reason). The interval shown is the one that decided the "
             "verdict. Checks (counts, identities) are listed apart and are not reproductions.", "",
             "| notebook | " + " | ".join(VERDICTS) + " | checks holding |", "|---|" + "---|" * (len(VERDICTS) + 1)]
    for notebook, section in sections.items():
        counts = [sum(r["verdict"] == v for r in section["claims"]) for v in VERDICTS]
        held = sum(c.get("holds") is True for c in section["checks"])
        head.append(f"| [{notebook}](#nb-{notebook}) | " + " | ".join(str(c) for c in counts)
                    + f" | {held}/{len(section['checks'])} |")
    head.append("")
    bodies = {}
    for notebook, section in sections.items():
        lines = [f'<a id="nb-{notebook}"></a>', "", f"## {notebook} · {PAPERS[notebook]}", ""]
        if not section["ran"]:
            lines += [f"Notebook {notebook} has not run at profile `{profile}`: its catalogue claims are listed as "
                      f"not run.", ""]
        else:
            lines.append(f"From `{notebook}_results.json`: profile `{section['profile']}`, commit "
                         f"`{section['commit']}`, written {section['written_at']}.")
            if section["profile"] != profile:
                lines.append(f"**Warning:** this file says it was written at profile `{section['profile']}`.")
            differs = {k: v for k, v in section["versions"].items() if v and versions.get(k) and versions[k] != v}
            if differs:
                lines.append("Versions at that run that differ from now: "
                             + ", ".join(f"{k} {v}" for k, v in sorted(differs.items())) + ".")
            if any(r.get("legacy") for r in section["claims"]):
                lines.append("Rows marked *legacy* come from the notebook's old free-text claims (read by the "
                             "report's legacy adapter), not yet from the claims engine.")
            lines.append("")
            if not section["claims"]:
                lines += ["Its results JSON records no claims.", ""]
        if section["claims"]:
            lines += ["| id | claim | test | estimate [interval] | n | verdict | note |",
                      "|---|---|---|---|---|---|---|"]
            for row in section["claims"]:
                cells = [f"`{row['id']}`" + (" *legacy*" if row.get("legacy") else ""), row["statement"],
                         _test(row), _interval(row), row["n"], f"**{row['verdict']}**", _note(row)]
                lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
            lines.append("")
        lines += fidelity_section(notebook, section.get("fidelity"), recorded=section.get("fidelity_recorded", False))
        if section["checks"]:
            lines += ["Checks (not paper claims):", "", "| id | check | expected | value | holds |",
                      "|---|---|---|---|---|"]
            for c in section["checks"]:
                holds = {True: "yes", False: "**no**", None: "not run"}[c.get("holds")]
                lines.append("| " + " | ".join(_cell(v) for v in (f"`{c['id']}`", c["statement"], _fmt(c["expected"]),
                                                                   _fmt(c["value"]), holds)) + " |")
            lines.append("")
        bodies[notebook] = "\n".join(lines)
    return "\n".join(head), bodies


def _html(head: str, bodies: dict[str, str], figures: list[Path]) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    by_notebook: dict[str, list[Path]] = {}
    for figure in figures:
        by_notebook.setdefault(figure.name[:2], []).append(figure)

    def images(items: list[Path]) -> str:
        out = []
        for figure in items:
            data = base64.b64encode(figure.read_bytes()).decode()
            caption = html.escape(figure_caption(figure.stem))
            out.append(f"<figure><img src='data:image/png;base64,{data}' alt='{caption}' style='max-width:100%'>"
                       f"<figcaption>{caption}</figcaption></figure>")
        return "\n".join(out)

    parts = [md.render(head)]
    for notebook, body in bodies.items():
        parts += [md.render(body), images(by_notebook.pop(notebook, []))]
    rest = [f for notebook in sorted(by_notebook) for f in by_notebook[notebook]]
    if rest:
        parts += ["<h2>Other figures</h2>", images(rest)]
    style = "body{font-family:sans-serif;max-width:80em;margin:auto}td,th{border:1px solid #ccc;padding:3px}" \
            "table{border-collapse:collapse}figure{margin:1em 0}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Reproduction report</title><style>{style}" \
           f"</style></head><body>" + "\n".join(parts) + "</body></html>\n"


def build_report(profile: str) -> tuple[Path, Path]:
    """Write ``figures/<profile>/REPORT.md`` and ``REPORT.html`` (figures inline, captioned); return both paths."""
    folder = paths.figures_dir(profile)
    head, bodies = _markdown(profile, report_rows(profile))
    text = head + "\n" + "\n".join(bodies.values())
    md = atomic_write(folder / "REPORT.md", lambda t: t.write_text(text + "\n", encoding="utf-8"))
    figures = sorted(p for p in folder.glob("[0-9][0-9]_*.png"))
    page = _html(head, bodies, figures)
    page_path = atomic_write(folder / "REPORT.html", lambda t: t.write_text(page, encoding="utf-8"))
    return md, page_path
