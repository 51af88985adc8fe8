"""GPU smoke test and throughput: QLoRA, LoRA and full fine-tuning of a random-initialised model
with a real Qwen2.5-Coder shape (same compute as the real weights; no weights can be downloaded),
a few steps each through the engine's training path, then batched generation.

    python bench/gpu_smoke.py [--shape qwen2.5-coder-0.5b] [--steps 8] [--out FILE.json]

On a CPU, `--shape tiny --device cpu` exercises the same code (what the test suite does).
Reports, per method: trainable parameters, tokens/s, seconds/step, peak memory, loss; and the
generation tokens/s of 32 prompts batched.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
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
    report = run(args.shape, args.steps, args.device, args.methods.split(","), args.batch, args.accum,
                 args.max_length, args.gen_prompts, args.gen_batch, args.max_new)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
