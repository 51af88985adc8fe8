"""Task-transfer studies (issue 12, item 4) and the first launch (item 6): a configuration's `transfer`
expands to multi-task runs over task subsets plus each task's single-task reference; bad subsets are
reported with their path and fix; the quick-compare and demo-transfer presets; the preflight names a
model that is neither local, nor cached, nor on a reachable hub (the hub is never asked in tests)."""

from __future__ import annotations

import pytest

from engine import api
from engine.data import preflight
from engine.settings import load_settings
from engine.spec import RunSpec, SpecValidationError, expand_study, parse_study_spec
from engine.spec.presets import load_preset

TASKS = ["gen-python", "trans-java-cs", "sum-python"]  # three families


def _study(transfer: dict, tasks: list | None = None, **config) -> dict:
    return {"kind": "study", "name": "transfer", "models": ["org/model-1B"], "tasks": tasks or TASKS,
            "baseline": False, "configurations": [{"name": "MT-LoRA", "method": "lora", "transfer": transfer,
                                                   **config}]}


def _runs(data: dict) -> list[tuple[str, str, list[str]]]:
    return [(r.config, r.spec.label, r.spec.task_names) for r in expand_study(parse_study_spec(data))]


def _errors(data: dict) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as info:
        parse_study_spec(data)
    return {e.path: f"{e.message} | {e.fix}" for e in info.value.errors}


def test_leave_one_out_over_three_tasks():
    runs = _runs(_study({"subsets": "leave_one_out"}))
    mt = [tasks for _, label, tasks in runs if label == "MT-LoRA"]
    st = [tasks for _, label, tasks in runs if label == "ST-LoRA"]
    assert len(runs) == 7
    assert sorted(map(len, mt)) == [2, 2, 2, 3]
    assert {frozenset(t) for t in mt if len(t) == 2} == {
        frozenset(TASKS) - {left} for left in TASKS}
    assert sorted(st) == sorted([t] for t in TASKS)
    configs = [c for c, _, _ in runs]
    assert configs[0] == "MT-LoRA"  # the full set keeps the configuration's name
    assert "MT-LoRA trans-java-cs+sum-python" in configs  # a subset is named by its tasks
    assert configs.count("ST-LoRA") == 3  # the references share one label (the paper's ST column)
    assert len({r.spec.run_id() for r in expand_study(parse_study_spec(_study({"subsets": "leave_one_out"})))}) == 7


def test_pairs_all_and_explicit_subsets():
    four = [*TASKS, "sum-java"]
    pairs = _runs(_study({"subsets": "pairs", "include_all": False, "single": False}, tasks=four))
    assert len(pairs) == 6 and all(len(tasks) == 2 for _, _, tasks in pairs)
    only_all = _runs(_study({"subsets": "all", "single": False}))
    assert only_all == [("MT-LoRA", "MT-LoRA", TASKS)]
    listed = _runs(_study({"subsets": [["sum-python", "gen-python"], "all"], "single": False}))
    # members follow the study's task order; the full set (include_all) is listed once
    assert [tasks for _, _, tasks in listed] == [TASKS, ["gen-python", "sum-python"]]


def test_st_or_mt_is_derived_from_the_families_of_each_subset():
    runs = _runs(_study({"subsets": [["gen-python", "gen-java"]], "include_all": False, "single": False},
                        tasks=["gen-python", "gen-java", "sum-python"]))
    # two generation tasks are single-task by family: the label says so, not the configuration
    assert runs == [("ST-LoRA gen-python+gen-java", "ST-LoRA", ["gen-python", "gen-java"])]
    assert not RunSpec.model_validate({"model": "m", "tasks": runs[0][2]}).is_multitask


def test_subsets_of_task_families():
    tasks = ["gen-python", "gen-java", "trans-java-cs", "sum-python"]
    runs = _runs(_study({"subsets": "leave_one_out", "unit": "family"}, tasks=tasks))
    assert len(runs) == 7  # 3 two-family runs + the three-family run + 3 ST (one per family)
    st = [tasks for _, label, tasks in runs if label == "ST-LoRA"]
    assert ["gen-python", "gen-java"] in st
    assert ("MT-LoRA generation+translation", "MT-LoRA", ["gen-python", "gen-java", "trans-java-cs"]) in runs


def test_bad_subsets_are_all_reported_with_path_and_fix():
    errors = _errors(_study({"subsets": ["pairz", ["gen-python", "gen-pyton"], ["sum-python"], "gen-python"]},
                            mode="single"))
    assert "did you mean 'pairs'" in errors["configurations[0].transfer.subsets[0]"]
    assert "did you mean 'gen-python'" in errors["configurations[0].transfer.subsets[1][1]"]
    assert "at least two tasks" in errors["configurations[0].transfer.subsets[2]"]
    assert "[[" in errors["configurations[0].transfer.subsets[3]"]  # a bare task: write the subset as a list
    assert "mode: multi" in errors["configurations[0].mode"]
    assert "leaves single" in _errors(_study({"subsets": "leave_one_out"}, tasks=TASKS[:2]))[
        "configurations[0].transfer.subsets"]
    assert "at least two" in _errors(_study({"subsets": "all"}, tasks=TASKS[:1]))["configurations[0].transfer"]
    shape = _errors(_study({"subsets": 5}))
    assert list(shape) == ["configurations[0].transfer.subsets"] and "[[gen-python, sum-java]]" in str(shape)
    family = _errors(_study({"subsets": [["generation", "gen-python"]], "unit": "family"}))
    assert "use one of generation, translation, summarization" in family[
        "configurations[0].transfer.subsets[0][1]"]


def test_quick_compare_is_three_runs_on_the_demo_model():
    study = load_preset("quick-compare")
    runs = expand_study(study)
    assert [r.spec.label for r in runs] == ["zero-shot", "ST-LoRA", "MT-LoRA"]
    assert {r.spec.model.id for r in runs} == {"SmolLM2-135M-Instruct"}
    st, mt = runs[1].spec, runs[2].spec
    assert set(st.task_names) < set(mt.task_names)  # one task compared three ways, a second two ways
    assert all(r.spec.train.max_steps and r.spec.train.max_steps <= 8 for r in runs[1:])
    assert len(api.expand(api.preset_data("quick-compare"))) == 3
    assert api.validate(api.preset_data("quick-compare"), preflight=False)[1] == []


def test_demo_transfer_is_leave_one_out_plus_all_plus_st_per_family():
    runs = expand_study(load_preset("demo-transfer"))
    labels = [r.spec.label for r in runs]
    assert labels.count("MT-LoRA") == 4 and labels.count("ST-LoRA") == 3
    assert sorted(len(r.spec.families) for r in runs) == [1, 1, 1, 2, 2, 2, 3]
    assert {r.spec.model.id for r in runs} == {"SmolLM2-135M-Instruct"}


@pytest.mark.usefixtures("workspace")
def test_dry_run_shows_the_transfer_expansion():
    text = api.plan(load_preset("demo-transfer"))
    assert "7 runs" in text
    assert "[MT-LoRA generation+translation]" in text and "[ST-LoRA]" in text
    assert "transfer design 'MT-LoRA' over task families (generation, translation, summarization): 4 " \
           "multi-family run(s)" in text


def _online(monkeypatch) -> None:
    for name in ("CODETUNE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def test_a_model_neither_local_cached_nor_reachable_is_an_error(workspace, monkeypatch):
    _online(monkeypatch)
    asked: list[str] = []

    def unreachable(model_id, revision=None):
        del revision
        asked.append(model_id)
        return "the Hugging Face hub cannot be reached (ConnectError)"

    monkeypatch.setattr(preflight, "hub_status", unreachable)  # never the network in tests
    data = {"model": "org/not-here-0.5B", "method": "lora", "tasks": ["gen-python"], "eval": {"limit": 2}}
    _, errors = api.validate(data)
    model = [e for e in errors if e.path == "model.id"]
    assert len(model) == 1, errors
    assert "neither a local folder nor in the Hugging Face cache" in model[0].message
    assert "cannot be reached" in model[0].message and "CODETUNE_HUB_CHECK=0" in model[0].fix
    assert asked == ["org/not-here-0.5B"]
    with pytest.raises(SpecValidationError):
        api.submit(data)
    # skippable: no question asked, no error
    monkeypatch.setenv("CODETUNE_HUB_CHECK", "0")
    asked.clear()
    assert not [e for e in api.validate(data)[1] if e.path == "model.id"] and not asked


@pytest.mark.usefixtures("workspace")
def test_a_reachable_model_or_a_local_folder_passes(monkeypatch, tiny_model):
    _online(monkeypatch)
    monkeypatch.setattr(preflight, "hub_status", lambda model_id, revision=None: None)
    settings = load_settings()
    assert preflight.model_problem(RunSpec.model_validate({"model": "org/there", "tasks": ["gen-python"]}),
                                   settings) is None

    def fail(model_id, revision=None):
        del model_id, revision
        raise AssertionError("a local folder needs no hub")

    local = RunSpec.model_validate({"model": str(tiny_model), "tasks": ["gen-python"]})
    assert preflight.model_problem(local, settings, probe=fail) is None
