"""GPU smoke test and throughput: QLoRA, LoRA and full fine-tuning of a random-initialised model
with a real Qwen2.5-Coder shape (same compute as the real weights; no weights can be downloaded),
a few steps each through the engine's training path, then batched generation.

    python bench/gpu_smoke.py [--shape qwen2.5-coder-0.5b] [--steps 8] [--out FILE.json]
    python bench/gpu_smoke.py --report [--dry] [--budget 420]

On a CPU, `--shape tiny --device cpu` exercises the same code (what the test suite does).
Reports, per method: trainable parameters, tokens/s, seconds/step, peak memory, loss; and the
generation tokens/s of 32 prompts batched.

`--report` is what bench/gpu_device.sh runs on the GPU machine: the reference recipe against our
path (bench/bench_train.py) for QLoRA, LoRA and full fine-tuning at the 0.5B and 1.5B shapes
(tokens/s, MFU, peak memory), then generation tokens/s batched vs batch 1, as ONE JSON object on
stdout, within a time budget (what does not fit is reported as skipped). `--dry` does the same on
a CPU with the tiny model, LoRA only, in seconds (tests/engine/test_gpu.py).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RECORD = {
    "prompt": [{"role": "system",
                "content": "You are an expert Python developer. Generate complete and efficient code."},
               {"role": "user", "content": "Write a function that returns the sum of the squares of a list of "
                                           "integers, skipping negative numbers."}],
    "completion": [{"role": "assistant",
                    "content": "def sum_squares(xs):\n    return sum(x * x for x in xs if x >= 0)\n" * 6}],
}


def run(shape: str, steps: int, device: str, methods: list[str], batch: int, accum: int, max_length: int,
        gen_prompts: int, gen_batch: int, max_new: int) -> dict:
    """Each method trained a few steps through the engine's path, then generation: the report."""
    import torch

    from engine.models import generate
    from engine.models import load as models
    from engine.models import trainer as train
    from engine.models.builders import build_qwen_shaped_model, build_tiny_model
    from engine.runs.rundir import RunDir
    from engine.settings import load_settings
    from engine.spec import parse_run_spec

    report: dict = {"shape": shape, "device": device, "torch": torch.__version__, "python": platform.python_version(),
                    "methods": {}}
    if device == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        if shape == "tiny":
            build_tiny_model(model_dir, arch="qwen2")
        else:
            build_qwen_shaped_model(shape, model_dir, dtype="bfloat16" if device == "cuda" else "float32")
        for method in methods:
            spec = parse_run_spec({
                "model": {"id": str(model_dir), "dtype": "bfloat16" if device == "cuda" else "float32"},
                "method": method, "tasks": ["gen-python"],
                "quant": {"compute_dtype": "bfloat16" if device == "cuda" else "float32"},
                "train": {"max_steps": steps, "batch_size": batch, "grad_accum": accum, "max_length": max_length,
                          "learning_rate": 1e-4, "save_steps": 10_000, "logging_steps": 1,
                          "optimizer": "adamw_8bit" if method == "qlora" and device == "cuda" else "adamw",
                          "gradient_checkpointing": method == "fft", "precision": "auto"},
                "resources": {"device": device},
            })
            settings = load_settings()
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            started = time.time()
            tokenizer = models.load_tokenizer(spec, settings)
            model = models.apply_method(models.load_base_model(spec, settings, device), spec)
            params = models.count_parameters(model)
            run_dir = RunDir(Path(tmp) / f"run-{method}")
            run_dir.path.mkdir()
            records = [RECORD] * (steps * batch * accum)
            result = train.train(spec, run_dir, model, tokenizer, records, [], device)
            events = [json.loads(line) for line in run_dir.events_path.read_text().splitlines()]
            logs = [e for e in events if e["type"] == "train"]
            timed = logs[1:] or logs
            tokens = timed[-1]["tokens"] - (logs[0]["tokens"] if len(logs) > 1 else 0)
            seconds = max(timed[-1]["t"] - (logs[0]["t"] if len(logs) > 1 else started), 1e-9)
            model.eval()
            requests = [generate.GenRequest(("gen", str(i)), generate.render_prompt(tokenizer, RECORD["prompt"]),
                                            max_new) for i in range(gen_prompts)]
            g_start = time.perf_counter()
            outs = [o for b in generate.generate(model, tokenizer, requests, generate.DecodeSettings(
                batch_size=gen_batch, stop_token_ids=tuple(models.stop_token_ids(tokenizer, model)))) for o in b]
            g_seconds = time.perf_counter() - g_start
            report["methods"][method] = {
                "trainable_params": params["trainable"], "total_params": params["total"],
                "steps": result.steps, "tokens_per_s": tokens / seconds, "seconds_per_step": seconds / len(timed),
                "first_loss": logs[0]["loss"], "last_loss": logs[-1]["loss"],
                "peak_mem_mb": timed[-1]["peak_mem_mb"],
                "gen_prompts": len(outs), "gen_tokens_per_s": sum(o.completion_tokens for o in outs) / g_seconds,
            }
            print(json.dumps({method: report["methods"][method]}), flush=True)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
    return report


def _bench_train() -> Any:
    spec = importlib.util.spec_from_file_location("bench_train", Path(__file__).with_name("bench_train.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module
    spec.loader.exec_module(module)
    return module


def generation_speed(model_dir: Path, device: str, prompts: int, batch: int, single: int, max_new: int) -> dict:
    """Greedy generation tokens/s of `prompts` prompts in batches of `batch`, against the first
    `single` of them one at a time (the same prompts, so a per-token rate against a per-token rate)."""
    import torch

    from engine.models import generate
    from engine.models import load as models
    from engine.settings import load_settings
    from engine.spec import parse_run_spec

    spec = parse_run_spec({"model": {"id": str(model_dir), "dtype": "bfloat16" if device == "cuda" else "float32"},
                           "method": "none", "tasks": ["gen-python"], "resources": {"device": device}})
    model, tokenizer = models.load_for_generation(spec, load_settings(), device, None)
    requests = [generate.GenRequest(("gen", str(i)), generate.render_prompt(tokenizer, [
        RECORD["prompt"][0], {"role": "user", "content": f"{RECORD['prompt'][1]['content']} Variant {i}."}]), max_new)
        for i in range(prompts)]
    stop_ids = tuple(models.stop_token_ids(tokenizer, model))
    out = {"prompts": prompts, "max_new_tokens": max_new}
    for label, size, subset in (("batched", batch, requests), ("batch_1", 1, requests[:single])):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        outs = [o for b in generate.generate(model, tokenizer, subset, generate.DecodeSettings(
            batch_size=size, stop_token_ids=stop_ids)) for o in b]
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        tokens = sum(o.completion_tokens for o in outs)
        out[label] = {"batch_size": size, "prompts": len(subset), "new_tokens": tokens, "seconds": seconds,
                      "tokens_per_s": tokens / seconds}
    out["ratio"] = out["batched"]["tokens_per_s"] / out["batch_1"]["tokens_per_s"]
    return out


def device_report(dry: bool, budget_s: float) -> dict:
    """The GPU machine's one report (see the module docstring); `dry`: tiny model on a CPU."""
    import torch

    bench = _bench_train()
    started = time.time()
    if dry:
        device, models_, methods, steps, micro, accum = "cpu", ["tiny"], ["lora"], 2, 2, 1
        generation = {"model": "tiny", "prompts": 4, "batch": 4, "single": 2, "max_new": 8}
    else:
        device, models_, methods, steps, micro, accum = "cuda", ["qwen-1.5b-shape", "qwen-0.5b-shape"], \
            ["qlora", "lora", "fft"], 2, 2, 16
        generation = {"model": "qwen-1.5b-shape", "prompts": 32, "batch": 32, "single": 4, "max_new": 128}
    report: dict = {"device": device, "dry": dry, "torch": torch.__version__, "python": platform.python_version(),
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                    "peak_flops": bench.PEAK_FLOPS, "budget_s": budget_s, "training": [], "generation": None}
    with tempfile.TemporaryDirectory() as tmp:
        for model in models_:
            folder = bench.prepare_model(model, Path(tmp), device)
            for method in methods:
                left = budget_s - (time.time() - started)
                if left < 60 and not dry:
                    report["training"].append({"model": model, "method": method, "skipped": "time budget"})
                    continue
                # a path that hangs or crawls must not take the rest of the report with it
                result = bench.bench(model, method, steps, micro, accum, device,
                                     timeout=max(min(left / 2 - 15, 150), 30), model_dir=folder)
                report["training"].append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "paths"}), file=sys.stderr, flush=True)
            if model == generation["model"]:
                left = budget_s - (time.time() - started)
                report["generation"] = generation_speed(folder, device, generation["prompts"], generation["batch"],
                                                        generation["single"], generation["max_new"]) \
                    if left > 20 or dry else {"skipped": "time budget"}
                if device == "cuda":  # the children that train next get the memory back
                    gc.collect()
                    torch.cuda.empty_cache()
    report["wall_s"] = time.time() - started
    return report


def main() -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", action="store_true", help="the GPU machine's one JSON report")
    parser.add_argument("--dry", action="store_true", help="with --report: tiny model on a CPU")
    parser.add_argument("--budget", type=float, default=420.0, help="with --report: seconds for everything")
    parser.add_argument("--shape", default="qwen2.5-coder-0.5b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--methods", default="qlora,lora,fft")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--accum", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--gen-prompts", type=int, default=32)
    parser.add_argument("--gen-batch", type=int, default=32)
    parser.add_argument("--max-new", type=int, default=128)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.report:
        print(json.dumps(device_report(args.dry, args.budget)), flush=True)
        return
    report = run(args.shape, args.steps, args.device, args.methods.split(","), args.batch, args.accum,
                 args.max_length, args.gen_prompts, args.gen_batch, args.max_new)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
