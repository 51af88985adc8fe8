"""A small paper_results/ folder in the reference package's CSV layouts (store.reference_files), with
known answers: the tests of the reference runs (store, scoring, CLI and page) build it in a
temporary data directory instead of reading the real 179 files.

What it holds (0.5B unless said):
* pass1/py: ST-QLoRA passes 3 of 5 (ids g1..g5), MT-QLoRA passes 2 of 4 (g3 missing: a row count
  that differs between two configurations), MT-FFT 1 of 5;
* codebleu/translation/java_cs: ST / MT / FFT over 6 CodeXGLUE test pairs (instance_id 0..5 →
  test-1..test-6), plus 3B MT-QLoRA and the 3B two-task ablation cg_ct (gen+trans);
* summarization/java (with SIDE) and /py (without SIDE: optional) for ST;
* lizard/translation/java_cs (translation_<i> keys), pylint/generation (the '0.5b' spelling);
* a malformed file: pmd/translation/cs_java/r-pmd_ct_0_5b-mt-qlora.csv (a value 'abc' on line 3).
"""

from __future__ import annotations

import json
from pathlib import Path

SUM = "bleu_meteor_rouge_chrf_bertscore_side/summarization"
ST_CODEBLEU = [1.0, 0.8, 0.6, 0.9, 0.7, 0.5]
MT_CODEBLEU = [1.0, 0.7, 0.4, 0.6, 0.5, 0.3]
FFT_CODEBLEU = [0.9, 0.8, 0.6, 0.9, 0.7, 0.6]
ST_PASS = {"g1": 1, "g2": 1, "g3": 1, "g4": 0, "g5": 0}
MT_PASS = {"g1": 1, "g2": 0, "g4": 1, "g5": 0}
FFT_PASS = {"g1": 1, "g2": 0, "g3": 0, "g4": 0, "g5": 0}
MALFORMED = "pmd/translation/cs_java/r-pmd_ct_0_5b-mt-qlora.csv"
LIZARD_TOKENS = [30, 10, 60, 20, 50, 40]  # of the paper's Java→C# outputs, rows translation_0..5


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def write_paper_results(data_dir: Path) -> Path:
    """Write the fixture under `data_dir`/paper_results; returns that folder."""
    root = data_dir / "paper_results"
    for config, passes in (("st_qlora", ST_PASS), ("mt_qlora", MT_PASS), ("mt_fft", FFT_PASS)):
        _write(root / f"pass1/py/r-pass1_cg_qwen0_5_{config}.csv", "Task ID,pass@1",
               [f"{k},{v}" for k, v in passes.items()])
    for name, values in (("ct_qwen0_5_st_qlora", ST_CODEBLEU), ("ct_qwen0_5_mt_qlora", MT_CODEBLEU),
                         ("ct_qwen0_5_mt_fft", FFT_CODEBLEU), ("ct_qwen3_mt_qlora", MT_CODEBLEU),
                         ("ct_qwen3_cg_ct_mt_qlora", ST_CODEBLEU)):
        _write(root / f"codebleu/translation/java_cs/{name}.csv", "instance_id,codebleu",
               [f"{i},{v}" for i, v in enumerate(values)])
    _write(root / f"{SUM}/java/cs_qwen0_5_st_qlora.csv", "Task ID,BLEU,METEOR,Rouge-L,chrF,BERTScore,SIDE",
           ["j1,0.1,0.2,0.3,0.4,0.5,0.6", "j2,0.2,0.3,0.4,0.5,0.6,0.7"])
    _write(root / f"{SUM}/py/cs_qwen0_5_st_qlora.csv", "Task ID,BLEU,METEOR,Rouge-L,chrF,BERTScore",
           ["p1,0.1,0.2,0.3,0.4,0.5", "p2,0.3,0.3,0.3,0.3,0.3"])
    _write(root / "lizard/translation/java_cs/r-lizard_ct_0_5b-st-qlora.csv",
           "Task ID,Detection_Rate,Cyclomatic_Complexity,Lines_of_Code,Token_Count",
           [f"translation_{i},1,{i + 1},{3 + i},{t}" for i, t in enumerate(LIZARD_TOKENS)])
    _write(root / "pylint/generation/r-pylint_cg_0.5b-st-qlora.csv", "Task ID,Error,Warning,Convention,Refactor",
           ["g1,0,2,1,0", "g2,1,0,0,0"])
    _write(root / MALFORMED, "Task ID,bestpractices,codestyle,design,errorprone,multithreading,performance",
           ["translation_0,0,4,0,0,0,0", "translation_1,0,abc,0,0,0,0"])
    return root


def write_our_test_sets(data_dir: Path) -> None:
    """Our side of the pairing, tiny: 6 CodeXGLUE test pairs whose C# references have a tenth of
    LIZARD_TOKENS in whitespace tokens (so the alignment check finds r = 1 at offset 0), and
    CoderEval summarization inputs with the fixture's ids."""
    trans = data_dir / "codexglue_code2code_trans"
    trans.mkdir(parents=True, exist_ok=True)
    java = [f"int f{i}() {{ return {i}; }}" for i in range(6)]
    csharp = [" ".join(["x"] * (t // 10)) for t in LIZARD_TOKENS]
    (trans / "test.java-cs.txt.java").write_text("\n".join(java) + "\n", encoding="utf-8")
    (trans / "test.java-cs.txt.cs").write_text("\n".join(csharp) + "\n", encoding="utf-8")
    summ = data_dir / "codereval_summarization"
    summ.mkdir(parents=True, exist_ok=True)
    for lang, ids in (("java", ["j1", "j2"]), ("py", ["p1", "p2"])):
        lines = [json.dumps({"id": i, "code": "def f():\n    return 1\n" if lang == "py" else "int f() { return 1; }",
                             "reference_summary": "returns one"}) for i in ids]
        (summ / f"cs_codereval_eval_dataset_{lang}_v2.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
