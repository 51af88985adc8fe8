"""Task registry and loaders: every loader on the public data, fixtures for error paths, prompts and
post-processing, and the test programs built from reference solutions; task families shared by built-in
and custom tasks (rendering unchanged by the move to family objects, custom tasks executing in the
sandbox like gen-python)."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

from engine.errors import SpecValidationError
from engine.tasks import families, postprocess
from engine.tasks.base import DataContext, DataError, Example
from engine.tasks.corpora import code2text_rows
from engine.tasks.registry import builtin_tasks, family_of, get_task, task_names

EXPECTED = {  # (train, valid, test) on ../shared/data
    "gen-python": (374, 90, 164),
    "gen-java": None,  # repository split: checked for disjointness below
    "trans-java-cs": (10300, 500, 1000),
    "trans-cs-java": (10300, 500, 1000),
    "sum-python": None,
    "sum-java": None,
}


def test_registry_has_the_six_variants():
    assert task_names() == ["gen-python", "gen-java", "trans-java-cs", "trans-cs-java", "sum-python", "sum-java"]
    assert {family_of(n) for n in task_names()} == {"generation", "translation", "summarization"}
    with pytest.raises(KeyError, match="unknown task"):
        get_task("gen-cobol")


def test_a_plugin_module_adds_a_task(tmp_path, monkeypatch):
    """One registry pattern: a module named in CODETUNE_PLUGINS listing TASKS adds its variants."""
    (tmp_path / "my_tasks.py").write_text(textwrap.dedent('''
        from engine.tasks.base import TaskFacts
        from engine.tasks.task import Task

        class GenRust(Task):
            def __init__(self):
                super().__init__(TaskFacts(name="gen-rust", family="generation", language="rust"))

            def load(self, split, ctx):
                return []

        TASKS = (GenRust,)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CODETUNE_PLUGINS", "my_tasks")
    assert task_names()[-1] == "gen-rust" and family_of("gen-rust") == "generation"
    rust = get_task("gen-rust")
    assert rust.default_metrics == ("codebleu", "bleu", "exact_match") and not rust.executable
    assert rust.messages(Example("e", "gen-rust", "Add.", ""))[0]["content"].startswith("You are an expert rust ")
    monkeypatch.delenv("CODETUNE_PLUGINS")
    assert "gen-rust" not in task_names()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_loaders_on_public_data(data_dir, name):
    task = get_task(name)
    ctx = DataContext(data_dir)
    splits = {split: task.load(split, ctx) for split in ("train", "valid", "test")}
    if EXPECTED[name]:
        assert tuple(len(splits[s]) for s in ("train", "valid", "test")) == EXPECTED[name]
    for split, examples in splits.items():
        assert examples, f"{name} {split} is empty"
        ids = [e.id for e in examples]
        assert len(ids) == len(set(ids)), f"{name} {split}: duplicate ids"
        for ex in examples[:20]:
            assert ex.input.strip() and ex.target.strip()
            messages = task.messages(ex)
            assert [m["role"] for m in messages] == ["system", "user"]


def test_summarization_eval_sets_and_docstring_flag(data_dir):
    task = get_task("sum-python")
    stripped = task.load("test", DataContext(data_dir))
    kept = task.load("test", DataContext(data_dir, keep_docstrings=True))
    assert len(stripped) == 100 and len(kept) == 100
    def docstrings(code: str) -> int | None:
        try:
            tree = ast.parse(textwrap.dedent(code))
        except SyntaxError:
            return None
        return sum(1 for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and ast.get_docstring(node) is not None)

    with_doc = [docstrings(e.input) for e in kept]
    assert sum(1 for n in with_doc if n) >= 95  # the paper's inputs still carry their docstrings
    for original, ex in zip(kept, stripped, strict=True):
        if docstrings(original.input) is not None:  # parseable before → parseable after, no docstring
            assert docstrings(ex.input) == 0, ex.id
    java = get_task("sum-java").load("test", DataContext(data_dir))
    assert len(java) == 99
    assert task.target(stripped[0]).startswith("SUMMARY: ") and task.target(stripped[0]).endswith(" DONE")


def test_code2text_split_is_by_repository(data_dir):
    ctx = DataContext(data_dir)
    for language in ("python", "java"):
        repos = {split: {r["repo"] for r in code2text_rows(ctx, language, split)}
                 for split in ("train", "valid", "test")}
        assert all(repos.values())
        assert not repos["train"] & repos["valid"]
        assert not repos["train"] & repos["test"]
        assert not repos["valid"] & repos["test"]
    # the held-out repositories are held out of every task that reads the corpus
    test_repos = {r["repo"] for r in code2text_rows(ctx, "java", "test")}
    gen_train = get_task("gen-java").load("train", ctx)
    assert not {e.meta["repo"] for e in gen_train} & test_repos


def test_task_options(data_dir):
    mbpp = get_task("gen-python").load("test", DataContext(data_dir, options={"eval_set": "mbpp"}))
    assert len(mbpp) == 500 and mbpp[0].id == "MBPP/11"
    concode = get_task("gen-java").load("train", DataContext(data_dir, options={"train_source": "concode"}))
    assert len(concode) == 1800
    c2t = get_task("sum-java").load("test", DataContext(data_dir, options={"eval_set": "code2text"}))
    assert c2t and all(e.id.startswith("code2text/") for e in c2t)


def test_missing_data_dir_and_file_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        get_task("gen-python").load("train", DataContext(tmp_path / "nope"))
    with pytest.raises(DataError, match="MBPP"):
        get_task("gen-python").load("train", DataContext(tmp_path))


def test_malformed_line_names_file_line_and_field(tmp_path):
    (tmp_path / "mbpp").mkdir()
    good = {"text": "t", "code": "def f():\n    return 1", "task_id": 601, "test_list": ["assert f() == 1"]}
    bad = {"text": "t", "task_id": 602, "test_list": ["assert f() == 1"]}
    (tmp_path / "mbpp" / "mbpp.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n{oops\n")
    with pytest.raises(DataError) as info:
        get_task("gen-python").load("train", DataContext(tmp_path))
    text = str(info.value)
    assert "mbpp.jsonl, line 2" in text and "'code'" in text and "Fix:" in text
    (tmp_path / "mbpp" / "mbpp.jsonl").write_text(json.dumps(good) + "\n{oops\n")
    with pytest.raises(DataError, match=r"line 2.*not valid JSON"):
        get_task("gen-python").load("train", DataContext(tmp_path))


def test_translation_files_must_pair(tmp_path):
    folder = tmp_path / "codexglue_code2code_trans"
    folder.mkdir()
    (folder / "train.java-cs.txt.java").write_text("int a(){}\nint b(){}\n")
    (folder / "train.java-cs.txt.cs").write_text("int A(){}\n")
    with pytest.raises(DataError, match=r"2 lines .* but 1"):
        get_task("trans-java-cs").load("train", DataContext(tmp_path))


def test_custom_jsonl_task(tmp_path):
    from engine.spec import parse_run_spec

    rows = [{"q": f"question {i}", "a": f"SELECT {i};", "uid": f"r{i}"} for i in range(50)]
    (tmp_path / "sql.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = parse_run_spec({
        "model": "a/b", "tasks": ["gen-sql", "gen-python"],
        "custom_tasks": [{"name": "gen-sql", "family": "generation", "language": "text", "path": "sql.jsonl",
                          "input_field": "q", "target_field": "a", "id_field": "uid",
                          "valid_fraction": 0.2, "eval_fraction": 0.2}],
    })
    task = get_task("gen-sql", spec.custom_tasks)
    ctx = DataContext(tmp_path)
    splits = {s: task.load(s, ctx) for s in ("train", "valid", "test")}
    assert sum(len(v) for v in splits.values()) == 50
    assert all(splits.values())
    assert not {e.id for e in splits["train"]} & {e.id for e in splits["test"]}
    assert splits["test"] == task.load("test", ctx)  # deterministic
    # its declared family counts: generation + gen-python is still single-task
    assert not spec.is_multitask
    (tmp_path / "sql.jsonl").write_text(json.dumps({"q": "x"}) + "\n")
    with pytest.raises(DataError, match=r"line 1.*'a'"):
        task.load("train", ctx)


def test_postprocessing():
    assert postprocess.extract_code("Sure!\n```python\ndef f():\n    return 1\n```\nDone") == "def f():\n    return 1"
    assert postprocess.extract_code("```java\nint x;\n```\n```csharp\nint y;\n```", prefer="csharp") == "int y;"
    assert postprocess.extract_code("```\nunclosed\ncode") == "unclosed\ncode"
    assert postprocess.extract_code("  plain code  ") == "plain code"
    assert postprocess.strip_summary("SUMMARY: Adds two numbers. DONE and more") == "Adds two numbers."
    assert postprocess.strip_summary("no prefix here") == "no prefix here"
    assert postprocess.cut_at_stop("abc DONE def", ["DONE"]) == ("abc ", True)
    src = 'def f(x):\n    """Doc."""\n    return x\n\n\nclass A:\n    """A."""\n'
    out = postprocess.strip_python_docstrings(src)
    assert '"""' not in out and "return x" in out
    compile(out, "x", "exec")
    py2 = 'def f(x):\n    """Doc."""\n    print "hi"\n'
    assert '"""' not in postprocess.strip_python_docstrings(py2)
    java = 'public int f() { // c\n  /* block */ return "//not a comment".length();\n}'
    assert "//not a comment" in postprocess.strip_java_comments(java) and "block" not in \
        postprocess.strip_java_comments(java)


def test_python_answers_are_sanitized():
    answer = ("Here you go:\n```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n\n"
              "print(area(2))\nassert area(1) > 3\n```\nThis computes the area.")
    out = get_task("gen-python").postprocess(answer, Example("x", "gen-python", "", ""))
    assert "def area" in out and "import math" in out and "print(" not in out and "assert" not in out
    truncated = "def f(x):\n    return x * 2\n\nprint(f(3)) and f("
    assert postprocess.sanitize_python(truncated).strip() == "def f(x):\n    return x * 2"
    assert postprocess.sanitize_python("def broken(:\n  pass") == "def broken(:\n  pass"  # error kept
    body = "    return sorted(set(l1) & set(l2))\n"
    assert postprocess.sanitize_python(body) == body  # a bare body completes the prompt later


def test_reference_programs_build_runnable_sources(data_dir):
    """The programs built from references are the shape the sandbox expects (executed in the
    scoring tests); a complete function, a bare body and a fenced answer all build."""
    gen = get_task("gen-python")
    ex = gen.load("test", DataContext(data_dir))[0]
    body = ex.target[len(ex.meta["prompt"]):]
    for prediction in (ex.target, body, gen.postprocess(f"```python\n{ex.target}\n```", ex)):
        program = gen.program(ex, prediction)
        assert program.language == "python" and f"check({ex.meta['entry_point']})" in program.source
        compile(program.source, "p", "exec")
    java = get_task("gen-java")
    jex = java.load("test", DataContext(data_dir))[0]
    program = java.program(jex, jex.target).source
    assert program.count("class Solution") == 1 and "public class Main" in program


def test_every_task_has_metrics_the_registry_knows():
    from engine.scoring.metrics import available_metrics

    known = set(available_metrics()) | {"pass@k"}
    for task in builtin_tasks():
        assert set(task.default_metrics) <= known, task.name


def test_example_round_trip():
    ex = Example("id1", "gen-python", "in", "out", {"k": [1, 2]})
    assert Example.from_dict(json.loads(json.dumps(ex.to_dict()))) == ex


# --- task families: built-in rendering is what it was before the family objects -----------------

COMPLETIONS = (
    "Sure:\n```python\nimport math\n\ndef f(x):\n    return x\n\nprint(f(1))\n```\nbye",
    "```java\nint a() { return 1; }\n```\n```csharp\nint A() { return 1; }\n```",
    "SUMMARY: Adds two numbers.\nDONE and more",
)
_HUMANEVAL = Example("HumanEval/x", "gen-python", "Add two numbers.\n\ndef add(a, b):",
                     'def add(a, b):\n    """Add two numbers."""\n    return a + b\n',
                     {"prompt": 'import math\n\ndef add(a, b):\n    """Add two numbers."""\n', "entry_point": "add",
                      "eval_set": "humaneval", "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"})
_MBPP = Example("MBPP/x", "gen-python", "Add two numbers.\n\ndef add(a, b):", "def add(a, b):\n    return a + b\n",
                {"entry_point": "add", "eval_set": "mbpp", "test_setup_code": "",
                 "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]})
_JAVA = Example("Java/x", "gen-java", "Add two numbers.\n\npublic int add(int a, int b)",
                "class Solution {\n    public int add(int a, int b) {\n        return a + b;\n    }\n}",
                {"declaration": "import java.util.*;\nclass Solution {\n    public int add(int a, int b) {\n",
                 "method": "add", "eval_set": "humaneval-x",
                 "test": "public class Main {\n    public static void main(String[] args) {\n"
                         "        assert new Solution().add(1, 2) == 3;\n    }\n}\n"})
_JAVA_ADD = "public int add(int a, int b) { return a + b; }"
_CS_ADD = "public int Add(int a, int b) { return a + b; }"
_CODE_POSTS = ("import math\n\ndef f(x):\n    return x\n\nprint(f(1))", "int a() { return 1; }",
               "SUMMARY: Adds two numbers.\nDONE and more")
# summaries are cut as the reference package cut them: after the last SUMMARY:, before the first DONE,
# stripped (no whitespace folding)
_SUMMARY_POSTS = (COMPLETIONS[0], COMPLETIONS[1], "Adds two numbers.")
# the reference study's system prompts, verbatim from ../shared/REFERENCE.md (changed on purpose in issue 10:
# they were shortened before)
_GEN_SYSTEM = ("You are an expert {0} developer. Generate complete and efficient {0} code based on the given "
               "specifications.")
_TRANS_SYSTEM = ("You are an expert code translator. Translate code from the source language to the target "
                 "language. Preserve semantics, be idiomatic in the target language, and output only the translated "
                 "code\u2014no explanations.")
_SUM_SYSTEM = "You are an expert {0} developer. Provide clear and concise summarization for {0} code segments."

# task, example → (system, user, target, stop strings, post-processed COMPLETIONS, program source or None):
# what the family objects render (the reference study's prompts since issue 10; the rest as before them)
BEFORE = [
    ("gen-python", _HUMANEVAL, (
        _GEN_SYSTEM.format("Python"), "Add two numbers.\n\ndef add(a, b):", _HUMANEVAL.target, [],
        ("import math\n\ndef f(x):\n    return x\n", "int a() { return 1; }",
         "SUMMARY: Adds two numbers.\nDONE and more"),
        'import math\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n\n\n'
        "def check(candidate):\n    assert candidate(1, 2) == 3\n\n\ncheck(add)\n")),
    ("gen-python", _MBPP, (
        _GEN_SYSTEM.format("Python"), "Add two numbers.\n\ndef add(a, b):", _MBPP.target, [],
        ("import math\n\ndef f(x):\n    return x\n", "int a() { return 1; }",
         "SUMMARY: Adds two numbers.\nDONE and more"),
        "\ndef add(a, b):\n    return a + b\n\n\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n")),
    ("gen-java", _JAVA, (
        _GEN_SYSTEM.format("Java"), "Add two numbers.\n\npublic int add(int a, int b)", _JAVA.target, [],
        _CODE_POSTS,
        "import java.util.*;\nimport java.lang.*;\nclass Solution {\n    public int add(int a, int b) {\n"
        "        return a + b;\n    }\n}\n\npublic class Main {\n    public static void main(String[] args) {\n"
        "        assert new Solution().add(1, 2) == 3;\n    }\n}\n\n")),
    ("trans-java-cs", Example("test-1", "trans-java-cs", _JAVA_ADD, _CS_ADD), (
        _TRANS_SYSTEM, f"Translate from Java to C#:\n{_JAVA_ADD}", _CS_ADD, [],
        (_CODE_POSTS[0], "int A() { return 1; }", _CODE_POSTS[2]), None)),
    ("trans-cs-java", Example("test-1", "trans-cs-java", _CS_ADD, _JAVA_ADD), (
        _TRANS_SYSTEM, f"Translate from C# to Java:\n{_CS_ADD}", _JAVA_ADD, [], _CODE_POSTS, None)),
    ("sum-python", Example("s1", "sum-python", "def add(a, b):\n    return a + b", "Add two numbers."), (
        _SUM_SYSTEM.format("Python"),
        "Summarize this Python code:\ndef add(a, b):\n    return a + b", "SUMMARY: Add two numbers. DONE", ["DONE"],
        _SUMMARY_POSTS, None)),
    ("sum-java", Example("s1", "sum-java", _JAVA_ADD, "Add two numbers."), (
        _SUM_SYSTEM.format("Java"), f"Summarize this Java code:\n{_JAVA_ADD}",
        "SUMMARY: Add two numbers. DONE", ["DONE"], _SUMMARY_POSTS, None)),
]
BEFORE_FACTS = {  # name → (family, language, source, executable, default metrics, test set, max new tokens)
    "gen-python": ("generation", "python", None, True, ("pass@k", "codebleu"), "test", 512),
    "gen-java": ("generation", "java", None, True, ("pass@k", "codebleu"), "humaneval-x", 512),
    "trans-java-cs": ("translation", "csharp", "java", False, ("codebleu", "bleu", "exact_match"), "codexglue-test",
                      512),
    "trans-cs-java": ("translation", "java", "csharp", False, ("codebleu", "bleu", "exact_match"), "codexglue-test",
                      512),
    "sum-python": ("summarization", "text", "python", False, ("bleu", "smooth_bleu", "meteor", "rouge_l", "chrf"),
                   "test", 128),
    "sum-java": ("summarization", "text", "java", False, ("bleu", "smooth_bleu", "meteor", "rouge_l", "chrf"),
                 "test", 128),
}
# sha256 over the rendering (messages, target, stops, post-processing, test programs on the test split) of
# the first 5 examples of each split on ../shared/data. Recomputed in issue 10 for its intended changes only
# (the reference study's system prompts, the "Function/Method to implement:" label, the package's summary
# cut): with those three reverted, the code gives the digests of the code before the family objects.
BEFORE_DIGESTS = {
    "gen-java/test": "db2c8b7177f684999646386b7b6b92b362828f327e389ab8d9f4309f51e29ae6",
    "gen-java/train": "7ac93cace780c46a6f7eb6fdc169b6675be4754c5545ba7da4bf5e47a8bd2de5",
    "gen-java/valid": "d2b12bf6bd384f79529f97aaf5ebe2393635fcd2b48aa95f89c80a9266bdd94b",
    "gen-python/test": "57c85b847265cdfee24b853b8205d1c3f5bc8273d0cf791ae6d7c8e02ecd1d05",
    "gen-python/train": "a83ca5a80cf2ced9981de891bb5e315d1f535e68ade82be05aca7c52e2a1e7fa",
    "gen-python/valid": "7ecdec8bab707183ec4bd223ec07d666899ff09569d1a9b61409b36181f3d1f1",
    "sum-java/test": "47e01a2df151a544cf61a58d81ab1bc6f2a98b4b41127a064dfc00da85cf1634",
    "sum-java/train": "43035b1ab34f0aed762128eb0ba89a6f441e4b0912615b02f7bd6d9336e1907a",
    "sum-java/valid": "25180937728d927caa81d5f2537d050b627dece1e76177cc832ffe079949ef06",
    "sum-python/test": "87ed643da436e02034b72b1fc8126ea7dff8af8bd668d7ca3e10f524717c1ff3",
    "sum-python/train": "e8db6e6b80d217a2801a6faed41cda0cd18b005e80d5a9fa477d55e795204cbd",
    "sum-python/valid": "b42959ce33736b4909c773d4dc63ea3cdb7228e2434cf7efd402908994f2b4da",
    "trans-cs-java/test": "00f09fa3a8560d952291b2f9e87f70d8531cea763f920171c96a5cb337886d23",
    "trans-cs-java/train": "1aeda95c9ef308b645305b7a6a9c0ce4b4c45229ae4ca51cc3af22140d67a736",
    "trans-cs-java/valid": "3b4dfd4aa4d65c6b30772a95c48487f1e5bef8105b0e1c9353d24b268415d83f",
    "trans-java-cs/test": "4376a6907d2d5937cee8d312905a17e4a010d2c0adcc0381b53e22c34fcf809c",
    "trans-java-cs/train": "1c4529e1790fd2f2d95fae2f77972b8aecadd6fd7831e9027bcf52e2e49c180e",
    "trans-java-cs/valid": "987e07be8d3be52b6459675bbb2241d493127a5c33e1bea71e0a295fbb58897c",
}


@pytest.mark.parametrize(("name", "example", "expected"), BEFORE, ids=[f"{n}-{e.id}" for n, e, _ in BEFORE])
def test_builtin_rendering_is_unchanged(name, example, expected):
    system, user, target, stops, posts, program = expected
    task = get_task(name)
    assert task.messages(example) == [{"role": "system", "content": system}, {"role": "user", "content": user}]
    assert task.target(example) == target
    assert task.stop_strings() == stops
    assert tuple(task.postprocess(c, example) for c in COMPLETIONS) == posts
    built = task.program(example, example.target)
    assert (built.source if built else None) == program
    assert task.behaviour is families.family(task.family)


def test_builtin_facts_are_unchanged():
    assert {t.name: (t.family, t.language, t.source_language, t.executable, tuple(t.default_metrics), t.test_set,
                     t.default_max_new_tokens) for t in builtin_tasks()} == BEFORE_FACTS


def _render(task, example, programs):
    out = {"messages": task.messages(example), "target": task.target(example), "stop": task.stop_strings(),
           "post": [task.postprocess(c, example)
                    for c in (*COMPLETIONS, "  plain answer  ", example.target, f"```\n{example.target}\n```")]}
    if task.executable and programs:
        for i, prediction in enumerate([example.target, task.postprocess(f"```\n{example.target}\n```", example)]):
            built = task.program(example, prediction)
            out[f"program{i}"] = [built.source, built.language]
    return out


def test_builtin_rendering_on_public_data_is_unchanged(data_dir):
    ctx = DataContext(data_dir)
    digests = {}
    for task in builtin_tasks():
        for split in ("train", "valid", "test"):
            blob = json.dumps([_render(task, ex, split == "test") for ex in task.load(split, ctx)[:5]], sort_keys=True)
            digests[f"{task.name}/{split}"] = hashlib.sha256(blob.encode()).hexdigest()
    assert digests == BEFORE_DIGESTS


# --- custom tasks: the family's behaviour, nothing re-implemented ---------------------------------


def _custom(tmp_path, rows, **declared):
    from engine.spec import parse_run_spec

    (tmp_path / "mine.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = parse_run_spec({"model": "a/b", "tasks": ["mine"],
                           "custom_tasks": [{"name": "mine", "path": "mine.jsonl", **declared}]})
    return spec, get_task("mine", spec.custom_tasks)


@pytest.mark.parametrize(("builtin", "declared"), [
    ("gen-java", {"family": "generation", "language": "java"}),
    ("trans-java-cs", {"family": "translation", "language": "csharp", "source_language": "java"}),
    ("sum-python", {"family": "summarization", "language": "text", "source_language": "python"}),
])
def test_custom_tasks_behave_like_their_family(tmp_path, builtin, declared):
    _, custom = _custom(tmp_path, [{"input": "x", "target": "y"}], **declared)
    reference = get_task(builtin)
    example = Example("e", "mine", "an input", "a target")
    assert custom.behaviour is reference.behaviour
    assert custom.messages(example) == reference.messages(example)
    assert custom.target(example) == reference.target(example)
    assert custom.stop_strings() == reference.stop_strings()
    assert [custom.postprocess(c, example) for c in COMPLETIONS] == [reference.postprocess(c, example)
                                                                      for c in COMPLETIONS]
    if not reference.executable:
        assert custom.default_metrics == reference.default_metrics
    assert not custom.executable and custom.program(example, "x") is None


def test_custom_task_kind_is_a_deprecated_alias_of_family(tmp_path):
    spec, task = _custom(tmp_path, [{"input": "x", "target": "y"}], kind="summarization", language="text",
                         source_language="java")
    assert spec.custom_tasks[0].family == "summarization" and task.family == "summarization"
    dumped = spec.model_dump(mode="json")["custom_tasks"][0]
    assert dumped["family"] == "summarization" and "kind" not in dumped
    with pytest.raises(SpecValidationError, match="family"):
        _custom(tmp_path, [], language="python")


def test_custom_tests_need_python_generation(tmp_path):
    with pytest.raises(SpecValidationError, match="test_field"):
        _custom(tmp_path, [], family="translation", language="java", source_language="csharp", test_field="t")
    with pytest.raises(SpecValidationError, match="test_field"):
        _custom(tmp_path, [], family="generation", language="python", entry_point_field="e")


ADD_ROWS = [
    {"id": "add", "prompt": "Add two numbers.\n\ndef add(a, b):", "solution": "def add(a, b):\n    return a + b\n",
     "tests": "assert add(1, 2) == 3\nassert add(-1, 1) == 0", "entry": "add",
     "check": "def check(candidate):\n    assert candidate(1, 2) == 3\n"},
    {"id": "neg", "prompt": "Negate a number.\n\ndef neg(x):", "solution": "def neg(x):\n    return -x\n",
     "tests": "assert neg(2) == -2", "entry": "neg", "check": "def check(candidate):\n    assert candidate(2) == -2\n"},
]


@pytest.mark.parametrize("form", ["mbpp", "humaneval"])
def test_custom_generation_with_tests_executes_like_gen_python(tmp_path, form):
    from engine.scoring.sandbox import Program, run_many

    fields = ({"test_field": "tests"} if form == "mbpp" else {"test_field": "check", "entry_point_field": "entry"})
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in ADD_ROWS) + "\n")
    _, task = _custom(tmp_path, ADD_ROWS, family="generation", language="python", input_field="prompt",
                      target_field="solution", id_field="id", eval_path="eval.jsonl", **fields)
    gen_python = get_task("gen-python")
    assert task.executable and task.default_metrics == gen_python.default_metrics
    examples = task.load("test", DataContext(tmp_path))
    assert [e.id for e in examples] == ["add", "neg"]
    assert task.messages(examples[0]) == gen_python.messages(examples[0])
    answers = {  # the model's answers, fenced and followed by example calls, as gen-python receives them
        "right": [f"```python\n{e.target}\nprint(1)\n```" for e in examples],
        "wrong": ["```python\ndef add(a, b):\n    return a - b\n```", "def neg(x):\n    return x\n"],
    }
    programs = []
    for completions in answers.values():
        for example, completion in zip(examples, completions, strict=True):
            built = task.program(example, task.postprocess(completion, example))
            programs.append(Program(source=built.source, language=built.language))
    statuses = [outcome.status for outcome in run_many(programs)]
    assert statuses == ["passed", "passed", "failed", "failed"], statuses


def test_custom_generation_tests_field_is_required_per_line(tmp_path):
    _, task = _custom(tmp_path, [{"input": "x", "target": "y"}], family="generation", language="python",
                      test_field="tests", eval_fraction=0.5)
    with pytest.raises(DataError, match="'tests'"):
        task.load("train", DataContext(tmp_path))


def test_tasks_do_not_import_the_spec():
    """engine.tasks describes a custom task by a Protocol: importing it never loads engine.spec."""
    code = ("import sys, engine.tasks.registry, engine.tasks.custom; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.spec')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from engine.spec import CustomTaskSpec
    from engine.tasks.custom import CustomTaskDeclaration

    declared = CustomTaskSpec(name="x", family="generation", language="python", path="x.jsonl")
    assert isinstance(declared, CustomTaskDeclaration)
