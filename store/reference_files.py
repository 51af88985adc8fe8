"""The reference study's per-sample result files (`<data dir>/paper_results/`, shared/REFERENCE.md):
their layouts, which run each file belongs to, and reading one file into values keyed to our
sample ids. store.reference loads what is read here into the tables.

One CSV per (metric family, task, model size, configuration), in the replication package's
folders (`LAYOUTS`). A file's name carries the size (`0_5`, `0.5b`, `qwen1_5`, `3b`, ...) and the
configuration (`st_qlora`, `mt_qlora`, `mt_fft` / `mt-fft`, and the 3B two-task ablations
`cg_ct_mt_qlora`, `cs_ct_mt_qlora`, `cg_cs_mt_qlora`: cg = generation, cs = summarization,
ct = translation). Keys become our sample ids: translation rows are CodeXGLUE test pairs by
position (`instance_id` i or `translation_i` → `test-<i + 1>`, our trans-* sample ids),
summarization rows CoderEval ids (as our sum-* ids), generation rows CoderEval task ids (our
gen-* tasks evaluate HumanEval / HumanEval-X, so those never pair with our runs).

A file that cannot be read as its layout says (not parseable as CSV, a missing key or value column,
a value that is not a number, a key that does not parse, a repeated key, no rows) raises
IngestProblem with the reason. Files are parsed by pyarrow's CSV reader (all 179 in well under a
second).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from store.report import IngestProblem

PAPER_DIR = "paper_results"
SOURCE = ("Haque, Afrin, Mastropaolo 2026 (arXiv 2601.15094), replication package "
          "github.com/alvi75/MultiTask-QLoRA-NFAnalysis @ 44e6077, statistical_tests/per-instance-value/")
MODEL = "Qwen/Qwen2.5-Coder-{size}-Instruct"
TASK_ORDER = ("gen-python", "gen-java", "trans-java-cs", "trans-cs-java", "sum-python", "sum-java")
FAMILY_OF = {"gen": "generation", "trans": "translation", "sum": "summarization"}
PASS_AT_1 = "pass@1"
PMD_NOTE = ("recomputed from the translation PMD files; the package's C#→Java PMD comparisons read "
            "the generation PMD files (184 rows) instead")


@dataclass(frozen=True)
class Layout:  # pylint: disable=too-many-instance-attributes  # one field per fact about a folder
    """How the files of one folder are read."""

    folder: str  # under paper_results/
    task: str  # our task name
    key: str  # the key column
    columns: dict[str, str]  # CSV column → measure name
    tool: str | None = None  # None: metric values (scores, pass@1); else the quality tool's name
    key_kind: str = "id"  # id | instance (0-based integer) | translation ('translation_<i>')
    expected_rows: int | None = None  # the paper's n (pass@1 divides by it)
    note: str = ""
    optional: tuple[str, ...] = ()  # columns some of the folder's files lack (Python summaries: SIDE)

    @property
    def pass_fail(self) -> bool:
        """Whether the values are pass/fail outcomes (pass@1)."""
        return PASS_AT_1 in self.columns.values()


_SUMMARY = {"BLEU": "bleu", "METEOR": "meteor", "Rouge-L": "rouge_l", "chrF": "chrf", "BERTScore": "bertscore",
            "SIDE": "side"}
_LIZARD = {"Detection_Rate": "detection_rate", "Cyclomatic_Complexity": "ccn", "Lines_of_Code": "nloc",
           "Token_Count": "token_count"}
_PMD = {c: f"count_{c}" for c in ("bestpractices", "codestyle", "design", "errorprone", "multithreading",
                                  "performance")}
_PYLINT = {"Error": "count_E", "Warning": "count_W", "Convention": "count_C", "Refactor": "count_R"}
_ROSLYN = {"Syntax_Errors": "syntax_errors", "Maintainability": "maintainability"}
_SONAR = {"LoC": "loc", "Reliability": "reliability", "Maintainability": "maintainability",
          "Security_Hotspots": "security_hotspots", "CyC": "cyclomatic", "CoC": "cognitive"}
_JUDGE = {"CA": "content_adequacy", "Conciseness": "conciseness", "Fluency": "fluency"}
_SUM = "bleu_meteor_rouge_chrf_bertscore_side/summarization"

LAYOUTS: tuple[Layout, ...] = (
    Layout("pass1/py", "gen-python", "Task ID", {"pass@1": PASS_AT_1}, expected_rows=190),
    Layout("pass1/java", "gen-java", "Task ID", {"pass@1": PASS_AT_1}, expected_rows=184),
    Layout("codebleu/translation/java_cs", "trans-java-cs", "instance_id", {"codebleu": "codebleu"},
           key_kind="instance", expected_rows=1000),
    Layout("codebleu/translation/cs_java", "trans-cs-java", "instance_id", {"codebleu": "codebleu"},
           key_kind="instance", expected_rows=1000),
    Layout(f"{_SUM}/py", "sum-python", "Task ID", _SUMMARY, expected_rows=100, optional=("SIDE",)),
    Layout(f"{_SUM}/java", "sum-java", "Task ID", _SUMMARY, expected_rows=99, optional=("SIDE",)),
    Layout("lizard/generation/python", "gen-python", "Task ID", _LIZARD, "paper-lizard"),
    Layout("lizard/generation/java", "gen-java", "Task ID", _LIZARD, "paper-lizard"),
    Layout("lizard/translation/java_cs", "trans-java-cs", "Task ID", _LIZARD, "paper-lizard", "translation"),
    Layout("lizard/translation/cs_java", "trans-cs-java", "Task ID", _LIZARD, "paper-lizard", "translation"),
    Layout("pylint/generation", "gen-python", "Task ID", _PYLINT, "paper-pylint"),
    Layout("pmd/generation", "gen-java", "Task ID", _PMD, "paper-pmd"),
    Layout("pmd/translation/cs_java", "trans-cs-java", "Task ID", _PMD, "paper-pmd", "translation",
           note=PMD_NOTE),
    Layout("roslyn/java_cs", "trans-java-cs", "Task ID", _ROSLYN, "paper-roslyn", "translation"),
    Layout("sonarcloud/generation/py", "gen-python", "TaskID", _SONAR, "paper-sonarcloud"),
    Layout("sonarcloud/generation/java", "gen-java", "TaskID", _SONAR, "paper-sonarcloud"),
    Layout("sonarcloud/translation/cs_java", "trans-cs-java", "TaskID", _SONAR, "paper-sonarcloud", "translation"),
    Layout("llm_judge/py", "sum-python", "target_id", _JUDGE, "paper-llm-judge"),
    Layout("llm_judge/java", "sum-java", "target_id", _JUDGE, "paper-llm-judge"),
)
LAYOUT_OF = {layout.folder: layout for layout in LAYOUTS}


@dataclass(frozen=True)
class Config:
    """One of the paper's configurations."""

    label: str  # ST-QLoRA, MT-QLoRA, MT-FFT, MT-QLoRA (gen+trans), ...
    method: str  # qlora | fft
    multitask: bool
    families: tuple[str, ...] | None = None  # the two-task ablations' task families


CONFIGS: dict[str, Config] = {
    "st_qlora": Config("ST-QLoRA", "qlora", False),
    "mt_qlora": Config("MT-QLoRA", "qlora", True),
    "mt_fft": Config("MT-FFT", "fft", True),
    "cg_ct_mt_qlora": Config("MT-QLoRA (gen+trans)", "qlora", True, ("generation", "translation")),
    "cs_ct_mt_qlora": Config("MT-QLoRA (sum+trans)", "qlora", True, ("summarization", "translation")),
    "cg_cs_mt_qlora": Config("MT-QLoRA (gen+sum)", "qlora", True, ("generation", "summarization")),
}
EXPECTED_CONFIGS = ("st_qlora", "mt_qlora", "mt_fft")  # every folder has these for every size
SIZES = {"0_5": "0.5B", "1_5": "1.5B", "3": "3B"}
_NAME = re.compile(r"(?:^|_)(?:qwen)?(0_5|1_5|3)b?_((?:(?:cg|cs|ct)_(?:cg|cs|ct)_)?(?:st|mt)_(?:qlora|fft))$")


@dataclass(frozen=True)
class RunRef:
    """A reference run: one model of the paper, a (size, configuration) and, for single-task
    QLoRA (one model per task family, as the paper trained them), the family."""

    size: str  # 0.5B, 1.5B, 3B
    config_key: str  # a key of CONFIGS
    family: str | None = None  # generation | translation | summarization for ST-QLoRA, else None

    @property
    def config(self) -> Config:
        """The configuration."""
        return CONFIGS[self.config_key]

    @property
    def run_id(self) -> str:
        """'paper-0.5b-mt-qlora-reference', 'paper-3b-mt-qlora-gen-trans-reference',
        'paper-0.5b-st-qlora-reference-translation' (the pages show a run id's last part after its
        label, so it says reference, or which single-task model)."""
        slug = self.config.label.lower().replace(" (", "-").replace("+", "-").rstrip(")")
        family = f"-{self.family}" if self.family else ""
        return f"paper-{self.size.lower()}-{slug}-reference{family}"

    @property
    def name(self) -> str:
        """'paper · 0.5B ST-QLoRA (translation)', 'paper · 0.5B MT-QLoRA': what the pages and
        `codetune compare` call it (a name without the family finds the ST model of a task)."""
        family = f" ({self.family})" if self.family else ""
        return f"paper · {self.size} {self.config.label}{family}"

    @property
    def label(self) -> str:
        """'paper ST-QLoRA': its configuration, marked as the paper's (the three single-task models
        of a size share it, so Compare's per-configuration columns merge them as the paper did)."""
        return f"paper {self.config.label}"

    @property
    def model(self) -> str:
        """The model the paper fine-tuned."""
        return MODEL.format(size=self.size)

    def for_task(self, task: str) -> RunRef:
        """The run that holds this file's task: ST-QLoRA is one model per task family."""
        return RunRef(self.size, self.config_key, family_of(task) if not self.config.multitask else None)


def parse_name(file_name: str) -> RunRef | None:
    """The (size, configuration) a file belongs to, from its name ('r-pmd_ct_0_5b-mt-qlora.csv' →
    0.5B MT-QLoRA); `RunRef.for_task` places a single-task file with its family's model."""
    stem = file_name[: -len(".csv")] if file_name.lower().endswith(".csv") else file_name
    match = _NAME.search(stem.lower().replace("-", "_").replace(".", "_"))
    if not match:
        return None
    return RunRef(SIZES[match.group(1)], match.group(2))


def family_of(task: str) -> str:
    """The task family of one of our built-in task names."""
    return FAMILY_OF[task.split("-", 1)[0]]


@dataclass
class FileValues:
    """One file read: our sample ids in row order and each measure's values."""

    layout: Layout
    run: RunRef
    relpath: str
    sample_ids: list[str] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)  # measure → values in row order


def _sample_ids(keys: list[str], layout: Layout) -> list[str]:
    if layout.key_kind == "id":
        out = [k.strip() for k in keys]
        bad = next((i for i, k in enumerate(out) if not k), None)
        if bad is not None:
            raise IngestProblem(f"line {bad + 2}: empty {layout.key!r}")
        return out
    prefix = "translation_" if layout.key_kind == "translation" else ""
    out = []
    for i, key in enumerate(keys):
        text = key.strip()
        digits = text[len(prefix):] if text.startswith(prefix) else ""
        if not digits.isdigit():
            expected = "a row number" if layout.key_kind == "instance" else "'translation_<number>'"
            raise IngestProblem(f"line {i + 2}: {layout.key} {text!r} is not {expected}")
        out.append(f"test-{int(digits) + 1}")
    return out


def _numbers(column: pa.ChunkedArray, name: str, pass_fail: bool) -> list[float]:
    try:
        values = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        texts = column.to_pylist()
        for i, text in enumerate(texts):
            try:
                float(text)
            except (TypeError, ValueError):
                raise IngestProblem(f"line {i + 2}: {name} {text!r} is not a number") from None
        raise IngestProblem(f"{name} holds values that are not numbers") from None
    out = values.to_pylist()
    for i, value in enumerate(out):
        if value is None or not math.isfinite(value):
            raise IngestProblem(f"line {i + 2}: {name} is empty or not finite")
        if pass_fail and value not in (0.0, 1.0):
            raise IngestProblem(f"line {i + 2}: {name} {value:g} is not 0 or 1")
    return out


def read_file(path: Path, layout: Layout, run: RunRef, relpath: str) -> FileValues:
    """Read one CSV as `layout` says; IngestProblem (with the reason) when it is malformed."""
    wanted = (layout.key, *layout.columns)
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in wanted}, strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise IngestProblem(f"is not a readable CSV file ({str(exc).splitlines()[0]})") from exc
    header = [h.strip() for h in table.column_names]
    table = table.rename_columns(header)
    missing = [c for c in wanted if c not in header and c not in layout.optional]
    if missing:
        raise IngestProblem(f"lacks the column(s) {', '.join(map(repr, missing))} (header: {header})")
    if table.num_rows == 0:
        raise IngestProblem("has no data rows")
    sample_ids = _sample_ids(table.column(layout.key).to_pylist(), layout)
    seen: set[str] = set()
    for i, sid in enumerate(sample_ids):
        if sid in seen:
            raise IngestProblem(f"line {i + 2}: {layout.key} {table.column(layout.key)[i].as_py()!r} repeated")
        seen.add(sid)
    values = {measure: _numbers(table.column(column), column, layout.pass_fail)
              for column, measure in layout.columns.items() if column in header}
    return FileValues(layout, run.for_task(layout.task), relpath, sample_ids, values)
