"""One run on several devices: the train phase through `accelerate launch`, here with two CPU
processes over gloo and the tiny model; rank 0 alone writes events and the adapter."""

from __future__ import annotations

import json

from engine.executors.distributed import launch_command
from engine.phases import recipe
from engine.runs import queue
from engine.runs.rundir import RunDir
from engine.settings import load_settings
from engine.spec import parse_run_spec


def _spec(model, **resources):
    return parse_run_spec({
        "model": {"id": str(model)}, "method": "lora", "tasks": [{"name": "gen-python", "cap": 16}],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "max_length": 128, "save_steps": 2},
        "eval": {"limit": 2, "max_new_tokens": 8},
        "resources": {"device": "cpu", "gpus": 2, **resources},
    })


def test_command_lines(tiny_model, tmp_path):
    run = RunDir(tmp_path)
    cpu = launch_command(run, _spec(tiny_model), "cpu")
    assert cpu[1:3] == ["-m", "accelerate.commands.launch"]
    assert cpu[cpu.index("--num_processes") + 1] == "2" and cpu[-2:] == ["engine.executors.distributed", str(tmp_path)]
    ddp = launch_command(run, _spec(tiny_model), "cuda")
    assert "--multi_gpu" in ddp and "--use_fsdp" not in ddp
    fft = parse_run_spec({**_spec(tiny_model).model_dump(mode="json"), "method": "fft",
                          "resources": {"device": "cuda", "gpus": 4, "strategy": "fsdp"}})
    fsdp = launch_command(run, fft, "cuda")
    assert "--use_fsdp" in fsdp and fsdp[fsdp.index("--num_processes") + 1] == "4"


def test_two_cpu_processes_train_one_run(workspace, tiny_model):
    settings = load_settings()
    run = RunDir(settings.runs_dir / queue.submit_run(_spec(tiny_model), settings).run_id)
    fd = run.try_lock()
    try:
        state = recipe.execute(run, settings)
    finally:
        import os

        os.close(fd)
    log = run.file("distributed.log").read_text() if run.file("distributed.log").exists() else ""
    assert state == "done", (run.read_status().error, log[-2000:])
    summary = json.loads(run.file("train_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 4
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    train_steps = [e["step"] for e in events if e["type"] == "train"]
    assert train_steps == sorted(set(train_steps))  # one writer: no duplicated step lines
    assert (run.model_dir / "adapter_model.safetensors").exists()
    assert run.artifact("generations").exists()
