"""One run on several devices: the train phase through `accelerate launch` (DDP, or FSDP for full
fine-tuning) when resources.gpus > 1. Generation and scoring stay in the run's own process.

    accelerate launch --num_processes N --num_machines 1 --main_process_port P \\
        [--multi_gpu | --use_fsdp --fsdp_sharding_strategy FULL_SHARD ... | --cpu] \\
        -m engine.executors.distributed RUN_DIR

Every rank loads the data and the model and trains its shard of each batch; rank 0 alone writes
events and saves the adapter / model. With resources.device 'cpu' the processes talk over gloo,
which is how the test suite exercises this path without GPUs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from engine.runs.rundir import RunDir
from engine.spec import RunSpec


def free_port() -> int:
    """A TCP port free on localhost right now (for the launcher's main process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(run: RunDir, spec: RunSpec, device: str) -> list[str]:
    """The accelerate command line that trains `run` on spec.resources.gpus processes."""
    n = spec.resources.gpus
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--num_machines", "1",
           "--main_process_port", str(free_port()), "--dynamo_backend", "no", "--mixed_precision", "no"]
    if device == "cpu":
        # accelerate's --cpu runs one process; its torch.distributed launcher with gloo runs N
        # (ACCELERATE_USE_CPU keeps every rank on the CPU)
        cmd.append("--multi_gpu")
    elif spec.resources.strategy == "fsdp":
        if spec.method != "fft":
            raise ValueError("resources.strategy 'fsdp' is for full fine-tuning. Fix: use 'ddp' with "
                             f"method {spec.method}")
        cmd += ["--use_fsdp", "--fsdp_version", "2", "--fsdp_sharding_strategy", "FULL_SHARD",
                "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP"]
    else:
        cmd.append("--multi_gpu")
    return [*cmd, "-m", "engine.executors.distributed", str(run.path)]


def launch(run: RunDir, spec: RunSpec, device: str) -> None:
    """Run the distributed train phase and wait; a failure raises with the log's tail."""
    cmd = launch_command(run, spec, device)
    run.append_event("distributed_launch", processes=spec.resources.gpus, command=" ".join(cmd))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device == "cpu":
        env.update(ACCELERATE_USE_CPU="true", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    log_path = run.file("distributed.log")
    with open(log_path, "ab") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"distributed training exited with code {code}; see distributed.log:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of each rank: train the run's model, rank 0 saves it."""
    args = sys.argv[1:] if argv is None else argv
    run = RunDir(Path(args[0]))
    spec = RunSpec.model_validate(run.read_spec())
    from accelerate import PartialState

    from engine.data import prepare as data
    from engine.models import load as models
    from engine.models import trainer as train
    from engine.settings import load_settings

    state = PartialState()
    device = "cpu" if spec.resources.device == "cpu" else "cuda"
    settings = load_settings()
    prepared = data.prepare(spec, Path(spec.data_dir) if spec.data_dir else settings.data_dir)
    tasks = data.task_objects(spec)
    source = models.resolve_source(spec, settings)
    tokenizer = models.load_tokenizer(spec, settings, source)
    base = models.load_base_model(spec, settings, device if device == "cpu" else f"cuda:{state.local_process_index}",
                                  source)
    model = models.apply_method(base, spec)
    result = train.train(spec, run, model, tokenizer, data.chat_records(prepared.train, tasks),
                         data.chat_records(prepared.valid, tasks), device, is_main=state.is_main_process)
    if state.is_main_process:
        models.save_trained(model, tokenizer, run.model_dir, spec, source.location)
        from engine.runs.rundir import write_json_atomic

        write_json_atomic(run.file("train_summary.json"),
                          {**result.__dict__, **models.count_parameters(model), "processes": state.num_processes})
    state.wait_for_everyone()
    return 0


if __name__ == "__main__":
    sys.exit(main())
