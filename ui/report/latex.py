"""The report's tables as LaTeX for a paper: booktabs rules (\\toprule, \\midrule, \\bottomrule), every
text escaped (_ % & # $ { } ~ ^ \\ and the few Unicode signs the tables use), each number with its
n and interval as the HTML page shows it.

`fragments(data)` gives one `table` float per table (to \\input into a paper; needs booktabs), and
`document(data, fragments, figures)` one article that holds them all and the figures' PDFs, which
compiles on its own (pdflatex, lualatex or tectonic).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ui.report import cells
from ui.report.build import ReportData

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    # Unicode the report's own words use, which pdflatex's utf8 input does not know
    "\u2212": "$-$", "\u2013": "--", "\u2014": "---", "\u0394": r"$\Delta$", "\u00b7": r"$\cdot$",
    "\u00d7": r"$\times$", "\u2264": r"$\leq$", "\u2265": r"$\geq$", "\u00b1": r"$\pm$", "\u2192": r"$\to$",
    "\u2026": r"\ldots{}", "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''",
}
VALUES_COLUMNS = ("Task", "Metric", "Column", "Value", "95\\% CI", "$n$")
COST_COLUMNS = (("column", "Column"), ("trainable_params", "Trainable"), ("total_params", "Total params"),
                ("weights_bytes", "Saved bytes"), ("peak_mem_mb", "Peak MB"), ("train_seconds", "Train s"),
                ("tokens_per_s", "Tokens/s"), ("gpu_hours", "GPU-h"), ("mfu", "MFU"))


def escape(text: object) -> str:
    """`text` as LaTeX source that prints it literally."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def tabular(header: Sequence[str], rows: Sequence[Sequence[str]], align: str, raw_header: bool = False,
            groups: Sequence[int] = ()) -> str:
    """A booktabs tabular: `rows` escaped (the header too unless `raw_header`), \\addlinespace before
    each row index in `groups`."""
    head = " & ".join(h if raw_header else escape(h) for h in header)
    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule", head + r" \\", "\\midrule"]
    for i, row in enumerate(rows):
        if i in groups and i:
            lines.append("\\addlinespace")
        lines.append(" & ".join(escape(c) for c in row) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def _float(body: str, caption: str, label: str) -> str:
    return "\n".join(["\\begin{table}[htbp]", "\\centering", "\\small", f"\\caption{{{escape(caption)}}}",
                      f"\\label{{tab:codetune-{label}}}", body, "\\end{table}", ""])


def verdicts_tex(data: ReportData) -> str | None:
    """The verdicts: per task and comparison, both values, Δ with its 95% CI, n, Holm p, effect."""
    shown = cells.verdict_rows(data.verdicts.frame)
    if shown.empty:
        return None
    rows, groups = [], []
    for i, row in enumerate(shown.astype(str).values.tolist()):
        if i == 0 or row[0] != shown["task"].iloc[i - 1]:  # the task once, a little space between tasks
            groups.append(i)
        else:
            row[0] = ""
        rows.append(row)
    numeric = ("value A", "value B", "baseline", "value", "n", "p (Holm)")
    align = "".join("r" if c in numeric else "l" for c in shown.columns)
    caption = (f"Verdicts against {data.selection.baseline}: difference B - A with its 95% paired-bootstrap "
               "interval, n paired samples (small: too few to tell), Holm-corrected p-value, Cliff's delta.")
    return _float(tabular(list(shown.columns), rows, align, groups=groups), caption, "verdicts")


def values_tex(data: ReportData) -> str | None:
    """Every value with its interval and n, one row per task, metric and column."""
    frame = data.values.frame
    if frame.empty or "n" not in frame:
        return None
    frame = frame[frame["n"].notna()]  # a paper's table: the values that rest on counted samples
    if frame.empty:
        return None
    order = {c: i for i, c in enumerate(dict.fromkeys(data.selection.columns.values()))}
    frame = frame.assign(position=frame["column"].map(order)).sort_values(["task", "metric", "position"])
    rows, groups, last_task = [], [], None
    for r in frame.to_dict("records"):
        n = cells.count(r.get("n"))
        if not pd.isna(r.get("k")) and not pd.isna(r.get("n")):
            n = f"{int(r['k'])}/{int(r['n'])}"
        new_task = r["task"] != last_task
        if new_task:
            groups.append(len(rows))
        rows.append([r["task"] if new_task else "", r["metric"], r["column"], cells.num(r.get("value")),
                     cells.interval(r.get("low"), r.get("high")), n])
        last_task = r["task"]
    caption = ("Values per task and metric with their 95% interval (Wilson for pass/fail, t otherwise) and n "
               "(passing/total for pass/fail).")
    return _float(tabular(VALUES_COLUMNS, rows, "lllrlr", raw_header=True, groups=groups), caption, "values")


def costs_tex(data: ReportData) -> str | None:
    """The cost per run (the columns the store recorded)."""
    shown = cells.cost_rows(data.costs.frame)
    present = [(c, h) for c, h in COST_COLUMNS if c in shown]
    if shown.empty or len(present) < 2:
        return None
    rows = shown[[c for c, _ in present]].fillna("–").astype(str).values.tolist()
    return _float(tabular([h for _, h in present], rows, "l" + "r" * (len(present) - 1)),
                  "Cost per run as recorded.", "costs")


def fragments(data: ReportData) -> dict[str, str]:
    """File stem → LaTeX table float, for each table with rows."""
    drawn = {"verdicts": verdicts_tex(data), "values": values_tex(data), "costs": costs_tex(data)}
    return {name: text for name, text in drawn.items() if text}


def document(data: ReportData, tables: dict[str, str], figures: Sequence[tuple[str, str]] = ()) -> str:
    """One article with every table and the figures (`figures`: (PDF path relative to the .tex, caption))."""
    parts = [
        "\\documentclass{article}",
        "\\usepackage[T1]{fontenc}",
        "\\usepackage[utf8]{inputenc}",
        "\\usepackage{booktabs}",
        "\\usepackage{graphicx}",
        "\\usepackage[landscape,margin=1.5cm]{geometry}",
        "\\begin{document}",
        f"\\section*{{CodeTune report: {escape(data.selection.title)}}}",
        f"Generated {escape(data.generated_at)}; baseline {escape(data.selection.baseline)}.",
        "",
    ]
    parts += [tables[name] for name in ("verdicts", "values", "costs") if name in tables]
    for path, caption in figures:
        parts += ["\\begin{figure}[htbp]", "\\centering",
                  f"\\IfFileExists{{{path}}}{{\\includegraphics[width=\\linewidth]{{{path}}}}}{{}}",
                  f"\\caption{{{escape(caption)}}}", "\\end{figure}", ""]
    parts.append("\\end{document}")
    return "\n".join(parts) + "\n"
