"""Schedules that fit the data (engine.spec.schedule), their validation, the dry run's lines and
warnings (engine.spec.planning), the fidelity view (engine.spec.fidelity) and `--show-prompts`."""

from __future__ import annotations

import re

import pytest

from engine.errors import SpecValidationError
from engine.settings import load_settings
from engine.spec import expand_study, parse_run_spec, recipe, schedule
from engine.spec.fidelity import differences, study_differences
from engine.spec.presets import load_preset


def _spec(tasks=("gen-python",), method="qlora", **train):
    return parse_run_spec({"model": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "method": method, "tasks": list(tasks),
                           "train": train})


# --- resolving a schedule --------------------------------------------------------------------------


def test_steps_and_fractions_as_given():
    plan = schedule.resolve(_spec(warmup_steps=10, eval_steps=20, early_stopping_patience=2))
    assert (plan.warmup_steps(400), plan.eval_steps(400), plan.evaluations(400)) == (10, 20, 20)
    plan = schedule.resolve(_spec(warmup_ratio=0.05, eval_fraction=0.25, early_stopping_patience=3))
    assert (plan.warmup_steps(400), plan.eval_steps(400), plan.evaluations(400)) == (20, 100, 4)
    assert plan.save_every == 0.25  # checkpoints where it evaluates
    assert schedule.resolve(_spec()).eval_every is None  # nothing asks for evaluation


def test_the_packages_schedules_per_kind_of_run():
    st_trans = _spec(("trans-java-cs", "trans-cs-java"), schedule="paper", early_stopping_metric="auto")
    plan = schedule.resolve(st_trans)
    assert (plan.warmup, plan.eval_every, plan.metric, plan.eval_rows) == (100, 625, "codebleu", 100)
    mt = _spec(("gen-python", "sum-python"), schedule="paper", early_stopping_metric="auto")
    assert schedule.resolve(mt).metric == "combined"
    assert schedule.resolve(_spec(("sum-java",), early_stopping_metric="auto")).metric == "bleu"
    scaled = schedule.resolve(_spec(("sum-java",), schedule="paper_scaled"))
    total = recipe.paper_steps(["summarization"])
    assert scaled.warmup == pytest.approx(1000 / total) and scaled.eval_every == pytest.approx(5000 / total)
    # on the paper's own number of steps, the scaled schedule is the package's
    assert abs(scaled.warmup_steps(total) - 1000) <= 1 and abs(scaled.eval_steps(total) - 5000) <= 1
    assert schedule.resolve(_spec(("sum-java",), schedule="paper", eval_rows=50)).eval_rows == 50


def test_total_steps_count_as_transformers_does():
    spec = _spec(batch_size=4, grad_accum=3, epochs=2)
    assert schedule.total_steps(37, spec) == 8  # ceil(37/4)=10 batches → 4 steps per epoch
    assert schedule.total_steps(37, _spec(batch_size=4, grad_accum=3, epochs=2, max_steps=5)) == 5
    assert schedule.total_steps(999, spec, sequences=12) == 2 * 1  # packed: 12 sequences = 3 batches


def test_warnings_when_warm_up_covers_half_the_run_or_early_stopping_cannot_trigger():
    spec = _spec(warmup_steps=1000, save_steps=500, eval_steps=500, early_stopping_patience=3)
    found = schedule.warnings(spec, total=150)
    assert any("warm-up of 1000 steps covers more than half of the run's 150" in w and "never reaches the peak" in w
               for w in found)
    assert any("early stopping can never trigger: 0 evaluation(s)" in w for w in found)
    assert schedule.warnings(_spec(warmup_ratio=0.6), total=100)[0].startswith("warm-up of 60 steps covers")
    assert schedule.warnings(_spec(warmup_ratio=0.05, eval_fraction=0.2, early_stopping_patience=3), 100) == []
    assert "no validation rows" in schedule.warnings(_spec(eval_fraction=0.1, early_stopping_patience=2), 100, 0)[0]
    assert schedule.warnings(_spec(method="none", warmup_steps=1000), 10) == []


@pytest.mark.parametrize(("train", "path", "says"), [
    ({"eval_fraction": 1.5}, "train.eval_fraction", "strictly between 0 and 1"),
    ({"eval_fraction": 0}, "train.eval_fraction", "strictly between 0 and 1"),
    ({"warmup_ratio": 1.0}, "train.warmup_ratio", "strictly between 0 and 1"),
    ({"early_stopping_metric": "rouge"}, "train.early_stopping_metric", "'loss', 'codebleu', 'bleu', 'combined'"),
    ({"early_stopping_metric": "bleu"}, "train.early_stopping_metric", "needs a summarization task"),
    ({"schedule": "paper_scaled", "warmup_steps": 1000}, "train.warmup_steps", "set train.schedule: given"),
    ({"eval_steps": 10, "eval_fraction": 0.1}, "train.eval_fraction", "keep one of them"),
])
def test_bad_schedules_are_clear_errors(train, path, says):
    with pytest.raises(SpecValidationError) as caught:
        _spec(**train)
    assert any(e.path == path and says in f"{e.message} {e.fix}" for e in caught.value.errors), caught.value


def test_the_trainer_gets_fractions_and_the_metric(tmp_path):
    from engine.models.trainer import sft_config, validation_rows
    from engine.runs.rundir import RunDir

    spec = _spec(("gen-python", "sum-python"), schedule="paper_scaled", early_stopping_patience=3,
                 early_stopping_metric="auto", early_stopping_threshold=0.001)
    config = sft_config(spec, RunDir(tmp_path), "cpu", has_valid=True)
    warm, every = recipe.paper_fractions(["generation", "summarization"])
    assert (config.warmup_steps, config.eval_steps, config.save_steps) == (warm, every, every)
    assert (config.metric_for_best_model, config.greater_is_better, config.load_best_model_at_end) == (
        "eval_combined", True, True)
    assert config.eval_packing is False  # teacher-forced metrics score one example per row
    rows = [{"i": i} for i in range(10)]
    assert validation_rows(rows, 4) == validation_rows(rows, 4) and len(validation_rows(rows, 4)) == 4
    assert validation_rows(rows, None) == rows


# --- the dry run -----------------------------------------------------------------------------------


@pytest.fixture()
def with_data(workspace):
    return load_settings()


def _one_model(name):
    study = load_preset(name)
    return study.model_copy(update={"models": study.models[:1]})


@pytest.mark.parametrize("name", ["paper", "paper-rq3"])
def test_every_paper_run_warms_up_for_less_than_half_the_run(with_data, name):
    from engine.spec.planning import plan_study

    plan = plan_study(_one_model(name), with_data)
    trained = [r for r in plan.runs if r.total_steps]
    assert len(trained) == (5 if name == "paper" else 4)
    for run in trained:
        assert 0 < run.warmup_steps * 2 < run.total_steps, run
        assert run.schedule.startswith(f"warm-up {run.warmup_steps} of {run.total_steps} steps")
        assert not [w for w in run.warnings if w.startswith("warm-up")]
    text = plan.render()
    assert len(re.findall(r"warm-up \d+ of \d+ steps", text)) == len(trained)
    assert "fidelity:" in text and "sum-python: CodeXGLUE code-to-text (public sample)" in text


def test_the_old_fixed_schedule_is_warned_about(with_data):
    from engine.spec.planning import plan_study

    study = _one_model("paper")
    base = {**study.base, "train": {**study.base["train"], "schedule": "given", "warmup_steps": 1000,
                                    "eval_steps": 500, "save_steps": 500}}
    plan = plan_study(study.model_copy(update={"base": base, "configurations": study.configurations[:1]}), with_data)
    st = [r for r in plan.runs if r.total_steps]
    assert st and all(any(w.startswith("warm-up of 1000 steps covers") for w in r.warnings) for r in st)


def test_show_prompts_render_every_task_with_the_template_said(with_data):
    from engine import api

    shown = api.show_prompts(load_preset("paper-rq3"), with_data)
    assert [t["task"] for t in shown["tasks"]] == ["gen-python", "gen-java", "trans-java-cs", "trans-cs-java",
                                                   "sum-python", "sum-java"]
    assert shown["template"].startswith("template: ChatML fallback")
    trans = shown["tasks"][2]
    assert trans["inference_prompt"].endswith("\n\nAssistant: ") and trans["notes"]
    assert "<|im_start|>assistant\nSUMMARY: " in shown["tasks"][4]["training_text"]
    assert shown["text"].count("-- training text") == 6


# --- fidelity ----------------------------------------------------------------------------------------


def test_the_paper_preset_differs_from_the_recipe_only_as_it_says(workspace):
    merged = study_differences(load_preset("paper"), load_settings().data_dir)
    chosen = {d["field"] for d in merged if not d["necessary"]}
    # on purpose: the scaled schedule, a teacher-forced metric scored per example, not per packed sequence,
    # and the optimised training path (speed and memory only)
    assert chosen == {"train.warmup", "train.eval_cadence", "train.early_stopping_metric (computation)",
                      "train.speed"}
    necessary = {d["field"] for d in merged if d["necessary"]}
    assert {"data[gen-python].test", "data[sum-python].train", "data[sum-java].train"} <= necessary
    assert all(d["effect"] and d["paper"] != d["this"] for d in merged)
    exact = load_preset("paper").model_copy(deep=True)
    exact.base["train"]["schedule"] = "paper"
    assert {d["field"] for d in study_differences(exact, load_settings().data_dir) if not d["necessary"]} == {
        "train.early_stopping_metric (computation)", "train.speed"}


def test_a_plain_spec_names_every_difference():
    spec = parse_run_spec({"model": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "method": "qlora",
                           "tasks": ["trans-java-cs", "sum-python"]})
    fields = {d.field: d for d in differences(spec)}
    for field in ("train.epochs", "train.packing", "train.completion_only_loss", "train.optimizer",
                  "train.early_stopping_patience", "train.early_stopping_metric", "eval.keep_docstrings",
                  "eval.meteor_tokenize", "eval.translation_template", "eval.summary_prompt_tokens",
                  "tasks[sum-python].options.train_form", "train.warmup", "train.eval_rows"):
        assert field in fields, field
    assert fields["eval.translation_template"].paper == "human_assistant"
    assert fields["train.early_stopping_metric"].paper.startswith("combined")
    other = parse_run_spec({"model": "my/model", "method": "lora", "tasks": ["gen-python"]})
    assert {"model.id", "method"} <= {d.field for d in differences(other)}


def test_runs_of_a_study_share_their_differences(workspace):
    study = load_preset("paper-rq3")
    merged = study_differences(study, load_settings().data_dir)
    ids = [r.spec.run_id() for r in expand_study(study)]
    cadence = [d for d in merged if d["field"] == "train.warmup"]
    assert sum(len(d["runs"]) for d in cadence) == len(ids)  # one scaled schedule per run


@pytest.mark.slow
@pytest.mark.parametrize("name", ["paper", "paper-rq3"])
def test_the_dry_run_shows_the_papers_prompts_and_warm_ups_under_half(workspace, capsys, name):
    from ui import cli

    assert cli.main(["study", name, "--dry-run", "--show-prompts"]) == 0
    out = capsys.readouterr().out
    steps = [(int(w), int(t)) for w, t in re.findall(r"warm-up (\d+) of (\d+) steps", out)]
    assert len(steps) == (15 if name == "paper" else 4) and all(2 * w < t for w, t in steps)
    for text in ("Generate complete and efficient Python code based on the given specifications.",
                 "\n\nFunction to implement:\n", "\n\nMethod to implement:\n",
                 "output only the translated code\u2014no explanations.", "\n\nHuman: Translate from Java to C#:\n",
                 "Provide clear and concise summarization for Java code segments.", "<|im_start|>assistant\nSUMMARY: ",
                 "fidelity:", "remaining by necessity:"):
        assert text in out, text


def test_the_launch_and_runs_pages_get_the_plan_and_fidelity_through_the_api(workspace):
    from engine import api

    data = api.preset_data("paper-mt-qlora-0.5b")
    details = api.plan_details(data)
    (run,) = details["runs"]
    assert run["schedule"].startswith(f"warm-up {run['warmup_steps']} of {run['total_steps']} steps")
    assert 2 * run["warmup_steps"] < run["total_steps"] and run["evaluations"] >= 4 and not run["warnings"]
    assert {s["task"] for s in run["sources"]} == {t if isinstance(t, str) else t["name"] for t in data["tasks"]}
    assert "fidelity:" in details["text"] and details["fidelity"] == api.fidelity(data)
    submitted = api.submit(data, check=False)["runs"][0]["run_id"]
    assert api.run_fidelity(submitted) == api.fidelity(data)
    changed = api.fidelity({**data, "eval": {**data["eval"], "translation_template": "model"}})
    (template,) = [d for d in changed if d["field"] == "eval.translation_template"]
    assert (template["paper"], template["this"], template["necessary"]) == ("human_assistant", "model", False)
