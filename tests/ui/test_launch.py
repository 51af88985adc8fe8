"""The Launch page: the generated form, the YAML editor, presets, validation (every error at once,
nothing queued) and submission (a run directory appears, a worker is asked for)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine import api
from engine.spec import RunSpec, TrainSpec
from tests.ui.helpers import open_page, texts_of


@pytest.fixture()
def fake_model(tmp_path) -> Path:
    """A folder that passes the model pre-flight (config.json); nothing trains on it in these tests."""
    folder = tmp_path / "fake-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    return folder


@pytest.fixture()
def no_worker(monkeypatch) -> list[int]:
    """Record ensure_worker calls instead of starting a worker process."""
    calls: list[int] = []

    def fake(settings=None):
        del settings
        calls.append(1)
        return {"started": True, "pid": 4242}

    monkeypatch.setattr(api, "ensure_worker", fake)
    return calls


def _run_dirs(home: Path) -> list[Path]:
    runs = home / "runs"
    return [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.is_dir() else []


def _run_form(at, preset: str = "(blank form)"):
    """Switch to a single run and choose `preset` in its box (the first visit shows a study)."""
    at.radio(key="launch.kind").set_value("single run").run()
    at.selectbox(key="launch.preset.run").set_value(preset).run()
    return at, at.session_state["launch.ver"]


def _use_yaml(at, text: str):
    _run_form(at)
    at.radio(key="launch.editor").set_value("YAML (advanced)").run()
    at.text_area(key="launch.yaml.run").set_value(text).run()
    return at


@pytest.mark.usefixtures("workspace")
def test_first_visit_shows_quick_compare_in_the_box_and_the_form():
    """The preset box and the form agree from the first render: quick-compare, a study of three runs."""
    at = open_page()
    assert not at.exception
    assert at.radio(key="launch.kind").value == "study"
    assert at.selectbox(key="launch.preset.study").value == "quick-compare"
    assert at.text_input(key="study0.name").value == "quick-compare"
    assert at.multiselect(key="study0.tasks.names").value == ["gen-python", "sum-python"]
    assert "3 run(s)" in " ".join(c.value for c in at.caption)
    # the single-run box agrees with its form too
    at.radio(key="launch.kind").set_value("single run").run()
    assert at.selectbox(key="launch.preset.run").value == "demo-run"
    assert at.text_input(key="run0.model.id").value == "SmolLM2-135M-Instruct"


@pytest.mark.usefixtures("workspace")
def test_choosing_a_preset_fills_the_form_without_another_click():
    at = open_page()
    at.selectbox(key="launch.preset.study").set_value("demo-transfer").run()
    assert not at.exception
    ver = at.session_state["launch.ver"]
    assert at.text_input(key=f"study{ver}.name").value == "demo-transfer"
    assert len(at.multiselect(key=f"study{ver}.tasks.names").value) == 6
    assert "7 run(s)" in " ".join(c.value for c in at.caption)
    at.radio(key="launch.editor").set_value("YAML (advanced)").run()
    assert "name: demo-transfer" in at.text_area(key="launch.yaml.study").value
    # edits are the user's; "Reset to preset" brings the preset back
    at.radio(key="launch.editor").set_value("Form").run()
    ver = at.session_state["launch.ver"]
    at.text_input(key=f"study{ver}.name").set_value("mine").run()
    at.button(key="launch.reset_preset").click().run()
    ver = at.session_state["launch.ver"]
    assert at.text_input(key=f"study{ver}.name").value == "demo-transfer"


def test_form_has_a_widget_for_every_run_spec_field(workspace):
    del workspace
    at, ver = _run_form(open_page())
    assert not at.exception
    keys = {
        w.key
        for kind in ("text_input", "number_input", "selectbox", "checkbox", "multiselect")
        for w in getattr(at, kind)
        if w.key
    }
    for section in ("lora", "quant", "train", "eval", "resources", "mixture"):
        model = RunSpec.model_fields[section].annotation
        for name in model.model_fields:
            assert f"run{ver}.{section}.{name}" in keys, f"no widget for {section}.{name}"
    for key in ("name", "model.id", "method", "tasks.names", "data_dir", "model.revision", "model.dtype",
                "model.trust_remote_code"):
        assert f"run{ver}.{key}" in keys, key
    assert len(at.data_editor) >= 1, "custom tasks table missing"
    # sensible defaults from the models
    assert at.number_input(key=f"run{ver}.train.learning_rate").value == pytest.approx(TrainSpec().learning_rate)
    assert at.multiselect(key=f"run{ver}.tasks.names").value == ["gen-python"]


def test_invalid_yaml_lists_every_error_and_queues_nothing(workspace, no_worker):
    spec = {
        "model": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "method": "lora",
        "tasks": ["gen-python", "gen-rust"],
        "train": {"learning_rate": -1, "lerning_rate": 0.1},
        "eval": {"n_samples": 0},
    }
    at = _use_yaml(open_page(), yaml.safe_dump(spec))
    at.button(key="launch.submit").click().run()
    assert not at.exception
    text = "\n".join(e.value for e in at.error)
    assert "problem(s)" in text and "Nothing was queued" in text
    for path in ("train.learning_rate", "tasks[1].name", "train.lerning_rate", "eval.n_samples"):
        assert path in text, f"{path} not reported:\n{text}"
    assert "Fix:" in text and "gen-rust" in text
    assert len(at.error) >= 5  # the summary + one per problem
    assert _run_dirs(workspace) == []
    assert no_worker == []


def test_invalid_form_values_are_all_reported(workspace, no_worker):
    at, ver = _run_form(open_page())
    at.number_input(key=f"run{ver}.train.learning_rate").set_value(-0.5)
    at.number_input(key=f"run{ver}.lora.r").set_value(0)
    at.number_input(key=f"run{ver}.eval.timeout_s").set_value(9999.0).run()
    at.button(key="launch.validate").click().run()
    text = "\n".join(e.value for e in at.error)
    for path in ("train.learning_rate", "lora.r", "eval.timeout_s"):
        assert path in text, text
    at.button(key="launch.submit").click().run()
    assert _run_dirs(workspace) == []
    assert no_worker == []


def test_valid_submit_queues_the_run_and_asks_for_a_worker(workspace, fake_model, no_worker):
    spec = {
        "name": "ui test",
        "model": {"id": str(fake_model)},
        "method": "lora",
        "tasks": [{"name": "gen-python"}, {"name": "sum-java"}],
        "train": {"max_steps": 2},
        "eval": {"limit": 2, "max_new_tokens": 8},
    }
    at = _use_yaml(open_page(), yaml.safe_dump(spec))
    at.button(key="launch.submit").click().run()
    assert not at.exception, at.exception
    dirs = _run_dirs(workspace)
    assert len(dirs) == 1
    run_id = dirs[0].name
    assert json.loads((dirs[0] / "status.json").read_text())["state"] == "queued"
    assert any(run_id in m.value for m in at.markdown), texts_of(at)
    assert any("Queued 1 new run" in s.value for s in at.success)
    assert no_worker == [1]


def test_form_round_trips_through_yaml(workspace, fake_model, no_worker):
    at, ver = _run_form(open_page())
    at.text_input(key=f"run{ver}.model.id").set_value(str(fake_model))
    at.number_input(key=f"run{ver}.train.max_steps").set_value(3)
    at.selectbox(key=f"run{ver}.method").set_value("qlora").run()
    at.radio(key="launch.editor").set_value("YAML (advanced)").run()
    data = yaml.safe_load(at.text_area(key="launch.yaml.run").value)
    assert data["model"]["id"] == str(fake_model)
    assert data["train"]["max_steps"] == 3 and data["method"] == "qlora"
    data["train"]["learning_rate"] = 0.0003
    at.text_area(key="launch.yaml.run").set_value(yaml.safe_dump(data)).run()
    at.radio(key="launch.editor").set_value("Form").run()
    assert not at.exception
    ver = at.session_state["launch.ver"]
    assert at.number_input(key=f"run{ver}.train.learning_rate").value == pytest.approx(0.0003)
    assert at.number_input(key=f"run{ver}.train.max_steps").value == 3
    at.button(key="launch.validate").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Valid" in s.value for s in at.success)
    assert _run_dirs(workspace) == []  # validate queues nothing


def test_validate_shows_expanded_runs_and_the_mixture(workspace, fake_model):
    spec = {"model": {"id": str(fake_model)}, "method": "lora", "tasks": ["gen-python", "sum-java"]}
    at = _use_yaml(open_page(), yaml.safe_dump(spec))
    at.button(key="launch.validate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert "training examples" in labels
    train_total = next(m.value for m in at.metric if m.label == "training examples")
    assert train_total.replace(",", "").isdigit() and int(train_total.replace(",", "")) > 374
    assert any("MT-LoRA" in f.value.to_string() for f in at.dataframe)


def test_study_editor_validates_a_custom_study(workspace, fake_model):
    study = {
        "kind": "study",
        "name": "mini",
        "models": [str(fake_model)],
        "tasks": ["gen-python", "sum-java"],
        "configurations": [
            {"name": "ST-LoRA", "method": "lora", "mode": "single"},
            {"name": "MT-LoRA", "method": "lora", "mode": "multi"},
        ],
        "baseline": True,
        "base": {"train": {"max_steps": 2}},
    }
    at = open_page()
    assert not at.exception
    assert at.text_input(key="study0.name").value  # the study form is drawn
    at.radio(key="launch.editor").set_value("YAML (advanced)").run()
    at.text_area(key="launch.yaml.study").set_value(yaml.safe_dump(study)).run()
    at.button(key="launch.validate").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("4 run(s)" in s.value for s in at.success)  # zero-shot + 2 ST + 1 MT
    # back to the form: the study's configurations are in its editor
    at.radio(key="launch.editor").set_value("Form").run()
    assert not at.exception
    ver = at.session_state["launch.ver"]
    assert at.text_input(key=f"study{ver}.name").value == "mini"
    assert at.multiselect(key=f"study{ver}.tasks.names").value == ["gen-python", "sum-java"]


def test_presets_load_into_the_form(workspace):
    at = open_page()
    names = at.selectbox(key="launch.preset.study").options
    assert any(n.startswith("paper —") or n.startswith("paper") for n in names)
    at.selectbox(key="launch.preset.study").set_value("paper").run()
    assert not at.exception
    ver = at.session_state["launch.ver"]
    assert at.text_input(key=f"study{ver}.name").value == "paper"
    # the package's warm-up and evaluation cadence, scaled to each run (issue 10: no fixed 1,000 steps)
    assert at.selectbox(key=f"study{ver}.base.train.schedule").value == "paper_scaled"
    assert at.number_input(key=f"study{ver}.base.train.warmup_steps").value == 0
    # the run preset
    at, ver = _run_form(at, "paper-mt-qlora-0.5b")
    assert at.selectbox(key=f"run{ver}.method").value == "qlora"
    assert len(at.multiselect(key=f"run{ver}.tasks.names").value) == 6


def test_broken_yaml_says_where(workspace):
    at = _use_yaml(open_page(), "model: x\ntasks: [gen-python\n")
    at.button(key="launch.validate").click().run()
    assert any("not valid YAML" in e.value and "line" in e.value for e in at.error)


@pytest.mark.parametrize("preset,kind", [("paper", "study"), ("paper-mt-qlora-0.5b", "single run"),
                                         ("paper-rq3", "study"), ("demo-transfer", "study"),
                                         ("quick-compare", "study")])
def test_a_preset_through_the_form_keeps_its_identity(workspace, preset, kind):
    """Form → YAML of an unchanged preset is the same study / run as the preset file (same ids)."""
    from engine.spec import parse_spec
    from engine.spec.presets import raw_preset

    at = open_page()
    at.radio(key="launch.kind").set_value(kind).run()
    at.selectbox(key="launch.preset.study" if kind == "study" else "launch.preset.run").set_value(preset).run()
    at.radio(key="launch.editor").set_value("YAML (advanced)").run()
    key = "launch.yaml.study" if kind == "study" else "launch.yaml.run"
    edited = parse_spec(yaml.safe_load(at.text_area(key=key).value))
    original = parse_spec(raw_preset(preset))
    if kind == "study":
        assert edited.study_id() == original.study_id()
        assert [r["run_id"] for r in api.expand(edited.model_dump(mode="json"))] == [
            r["run_id"] for r in api.expand(raw_preset(preset))
        ]
    else:
        assert edited.run_id() == original.run_id()


def test_validate_shows_the_data_preflight_and_refuses_a_broken_dataset(workspace, fake_model, tmp_path):
    """Validate reads every dataset a spec names: split sizes per task on success; the file, the line
    and the reason when a custom dataset cannot be used — before anything is queued."""
    good = {"model": {"id": str(fake_model)}, "method": "lora", "tasks": ["gen-python"]}
    at = _use_yaml(open_page(), yaml.safe_dump(good))
    at.button(key="launch.validate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    preflight = [f.value for f in at.dataframe if "evaluated" in f.value.columns]
    assert preflight and int(preflight[0].iloc[0]["test"]) > 0 and preflight[0].iloc[0]["task"] == "gen-python"
    schedules = [f.value for f in at.dataframe if "schedule" in f.value.columns]
    assert schedules and "warm-up" in schedules[0].iloc[0]["schedule"], [w.value for w in at.warning]
    fidelity = [f.value for f in at.dataframe if "what it changes" in f.value.columns]
    assert fidelity and len(fidelity[0]) > 0  # a LoRA run on the public sample differs from the paper's QLoRA

    broken = tmp_path / "mine.jsonl"
    broken.write_text('{"id": "1", "intent": "add", "snippet": "a + b"}\n{"id": "2", "intent": \n', encoding="utf-8")
    bad = {**good, "tasks": ["mine"], "custom_tasks": [{"name": "mine", "family": "generation",
                                                        "language": "python", "path": str(broken),
                                                        "input_field": "intent", "target_field": "snippet",
                                                        "id_field": "id"}]}
    at = _use_yaml(open_page(), yaml.safe_dump(bad))
    at.button(key="launch.validate").click().run()
    shown = " ".join(str(e.value) for e in [*at.error, *at.markdown, *at.caption])
    assert "mine.jsonl" in shown and "line 2" in shown, shown
    runs = workspace / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "validating must queue nothing"
