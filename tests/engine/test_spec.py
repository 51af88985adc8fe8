"""RunSpec / StudySpec: validation messages, round trip, stable hash, derived ST/MT, study expansion."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from engine.spec import (
    RunSpec,
    SpecValidationError,
    StudySpec,
    expand_study,
    load_spec_file,
    parse_run_spec,
    parse_study_spec,
)
from engine.spec.presets import list_presets, load_preset

BASE = {"model": {"id": "org/model-0.5B"}, "tasks": [{"name": "gen-python"}]}


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        target = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return data


# (spec data, expected path, words expected in the message, words expected in the fix)
CASES = [
    (_with(method="qlra"), "method", "input should be", "'qlora'"),
    (_with(lora__r=0), "lora.r", "greater than 0", "> 0"),
    (_with(lora__dropout=1.5), "lora.dropout", "less than 1", "< 1"),
    (_with(train__learning_rate=-1), "train.learning_rate", "greater than 0", "> 0"),
    (_with(train__batch_sise=4), "train.batch_sise", "extra inputs", "did you mean 'batch_size'"),
    (_with(tasks=[{"name": "gen-rust"}]), "tasks[0].name", "unknown task", "gen-python"),
    (_with(tasks=[{"name": "gen-pyhton"}]), "tasks[0].name", "unknown task", "did you mean 'gen-python'"),
    (_with(tasks=[]), "tasks", "at least 1", "at least one"),
    (_with(tasks=[{"name": "gen-python"}, {"name": "gen-python"}]), "tasks[1].name", "twice", "once"),
    (_with(tasks=[{"name": "sum-java", "options": {"eval_set": "x"}}]), "tasks[0].options.eval_set",
     "not an allowed value", "codereval"),
    (_with(tasks=[{"name": "gen-python", "options": {"colour": 1}}]), "tasks[0].options.colour",
     "no option", "eval_set"),
    (_with(mixture__mode="explicit"), "tasks[0].weight", "needs a weight", "weight"),
    (_with(eval__pass_k=[1, 10]), "eval.pass_k", "needs at least 10 samples", "n_samples"),
    (_with(eval__n_samples=5), "eval.temperature", "greedy", "temperature > 0"),
    (_with(eval__metrics=["bleu", "blue"]), "eval.metrics[1]", "unknown metric", "bleu"),
    (_with(quant__quant_type="int3"), "quant.quant_type", "input should be", "'nf4'"),
    (_with(model={"id": ""}), "model.id", "at least 1 character", "correct"),
    (_with(train__optimizer="lion"), "train.optimizer", "input should be", "adamw_8bit"),
    ({"tasks": [{"name": "gen-python"}]}, "model", "field required", "add this field"),
]


@pytest.mark.parametrize(("data", "path", "message", "fix"), CASES)
def test_validation_message_names_path_value_and_fix(data, path, message, fix):
    with pytest.raises(SpecValidationError) as info:
        parse_run_spec(data)
    matching = [e for e in info.value.errors if e.path == path]
    assert matching, f"no error at {path}: {[str(e) for e in info.value.errors]}"
    error = matching[0]
    assert message.lower() in error.message.lower()
    assert fix.lower() in error.fix.lower()
    assert path in str(info.value)


def test_every_error_is_reported_at_once():
    data = _with(method="bad", lora__r=-1, train__epochs=0, tasks=[{"name": "nope"}], eval__batch_size=0)
    with pytest.raises(SpecValidationError) as info:
        parse_run_spec(data)
    paths = {e.path for e in info.value.errors}
    assert {"method", "lora.r", "train.epochs", "tasks[0].name", "eval.batch_size"} <= paths


def test_round_trip_and_stable_hash(tmp_path):
    spec = parse_run_spec(_with(method="qlora", tasks=[{"name": "gen-python"}, {"name": "sum-java", "weight": 2}]))
    again = RunSpec.model_validate_json(spec.to_json())
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(json.loads(spec.to_json())))
    assert load_spec_file(path).spec_hash() == spec.spec_hash()
    # the name and the data location are labels, not identity; everything else is
    assert parse_run_spec({**_with(), "name": "x", "data_dir": "/elsewhere"}).spec_hash() == \
        parse_run_spec(_with()).spec_hash()
    assert parse_run_spec(_with(train__seed=1)).spec_hash() != parse_run_spec(_with()).spec_hash()


def test_hash_is_stable_across_processes():
    code = ("from engine.spec import parse_run_spec;"
            "print(parse_run_spec({'model': 'a/b', 'tasks': ['gen-python', 'sum-java']}).spec_hash())")
    hashes = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout.strip()
        for seed in ("0", "1", "123")
    }
    assert len(hashes) == 1


def test_single_vs_multi_task_is_derived_from_task_families():
    assert parse_run_spec(_with(method="qlora")).label == "ST-QLoRA"
    both_langs = parse_run_spec(_with(method="qlora", tasks=["gen-python", "gen-java"]))
    assert not both_langs.is_multitask and both_langs.label == "ST-QLoRA"
    mixed = parse_run_spec(_with(method="fft", tasks=["gen-python", "trans-java-cs"]))
    assert mixed.is_multitask and mixed.label == "MT-FFT"
    assert parse_run_spec(_with(method="none")).label == "zero-shot"
    assert "is_multitask" not in json.loads(mixed.to_json())


def test_paper_study_expands_to_the_papers_matrix():
    study = load_preset("paper")
    runs = expand_study(study)
    assert len(runs) == 3 * (1 + 3 + 1 + 1)  # per size: baseline, 3 ST (one per family), MT-QLoRA, MT-FFT
    labels = [r.spec.label for r in runs]
    assert labels.count("ST-QLoRA") == 9 and labels.count("MT-QLoRA") == 3 and labels.count("MT-FFT") == 3
    assert labels.count("zero-shot") == 3
    st = [r.spec for r in runs if r.spec.label == "ST-QLoRA"]
    assert sorted(tuple(s.task_names) for s in st)[:3] == [
        ("gen-python", "gen-java"), ("gen-python", "gen-java"), ("gen-python", "gen-java")]
    mt = next(r.spec for r in runs if r.spec.label == "MT-QLoRA")
    assert mt.lora.r == 8 and mt.lora.alpha == 16 and mt.quant.double_quant
    assert mt.train.effective_batch == 32 and mt.train.optimizer == "adamw_8bit"
    fft = next(r.spec for r in runs if r.spec.label == "MT-FFT")
    assert fft.train.gradient_checkpointing and fft.train.optimizer == "adamw"
    assert len({r.spec.run_id() for r in runs}) == len(runs)


def test_custom_study_counts():
    study = parse_study_spec({
        "name": "mine", "models": ["a/m-1", "a/m-2"], "tasks": ["gen-python", "sum-java", "sum-python"],
        "baseline": False,
        "configurations": [
            {"name": "ST-LoRA", "method": "lora", "mode": "single", "group_by": "task"},
            {"name": "ST-fam", "method": "lora", "mode": "single", "group_by": "family"},
            {"name": "MT", "method": "lora", "mode": "multi", "overrides": {"train": {"learning_rate": 2e-4}}},
        ],
    })
    runs = expand_study(study)
    assert len(runs) == 2 * (3 + 2 + 1)
    mt = [r for r in runs if r.config == "MT"]
    assert all(r.spec.train.learning_rate == 2e-4 for r in mt)


def test_study_reports_errors_of_expanded_runs():
    with pytest.raises(SpecValidationError) as info:
        parse_study_spec({"name": "s", "models": ["a/b"], "tasks": ["gen-python"],
                          "configurations": [{"name": "X", "method": "lora",
                                              "overrides": {"train": {"epochs": -1}}}]})
    assert any("train.epochs" in e.path for e in info.value.errors)


def test_every_preset_is_valid():
    presets = list_presets()
    assert {"paper", "demo"} <= set(presets)
    for name in presets:
        assert isinstance(load_preset(name), (RunSpec, StudySpec))


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model: {id: x}\ntasks: [gen-python\n")
    with pytest.raises(SpecValidationError) as info:
        load_spec_file(path)
    assert "line" in str(info.value) and "broken.yaml" in str(info.value)


def test_shorthand_task_names_are_checked_too():
    with pytest.raises(SpecValidationError) as info:
        parse_run_spec({"model": "a/b", "tasks": ["gen-python", "nope"], "lora": {"r": -1}})
    paths = {e.path for e in info.value.errors}
    assert {"tasks[1].name", "lora.r"} <= paths
