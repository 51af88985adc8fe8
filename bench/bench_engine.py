"""Engine throughput on this machine, side by side in one run:

1. LoRA training tokens/s of a real model (default: SmolLM2-135M-Instruct, built by `make model`),
   through the engine's own training path (TRL SFTTrainer + the events callback).
2. Generation tokens/s for 32 prompts: the engine's default path (engine.models.decode's token loop)
   at --batch vs plain Hugging Face `model.generate` one prompt at a time (the paper's scripts), same
   prompts and greedy settings, token ids compared prompt by prompt, and the ratio.

    python bench/bench_engine.py [--model DIR] [--prompts 32] [--batch 16] [--max-new 64] [--steps 6]
                                 [--skip train] [--with-generate-batched] [--threads N] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from engine.data import prepare as data
from engine.models import generate
from engine.models import load as models
from engine.models import trainer as train
from engine.runs.rundir import RunDir
from engine.settings import load_settings
from engine.spec import parse_run_spec


def bench_training(model_dir: str, steps: int, batch: int, max_length: int, data_dir: Path) -> dict:
    spec = parse_run_spec({
        "model": {"id": model_dir}, "method": "lora", "tasks": ["gen-python", "trans-java-cs", "sum-python"],
        "train": {"max_steps": steps + 1, "batch_size": batch, "grad_accum": 1, "max_length": max_length,
                  "save_steps": 10_000, "logging_steps": 1},
    })
    settings = load_settings()
    prepared = data.prepare(spec, data_dir)
    tasks = data.task_objects(spec)
    tokenizer = models.load_tokenizer(spec, settings)
    model = models.apply_method(models.load_base_model(spec, settings, "cpu"), spec)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp))
        result = train.train(spec, run, model, tokenizer, data.chat_records(prepared.train[:200], tasks), [], "cpu")
        events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    logged = [e for e in events if e["type"] == "train"]
    first, steps_ev = logged[0], logged[1:]  # the first step includes warm-up
    tokens = steps_ev[-1]["tokens"] - first["tokens"]
    seconds = steps_ev[-1]["t"] - first["t"]
    return {"model": model_dir, "steps_timed": len(steps_ev), "batch_size": batch, "max_length": max_length,
            "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "seconds_per_step": seconds / len(steps_ev), "peak_mem_mb": steps_ev[-1]["peak_mem_mb"],
            "trainable": models.count_parameters(model)["trainable"], "total_steps": result.steps}


def bench_generation(model_dir: str, n_prompts: int, batch: int, max_new: int, data_dir: Path,
                     threads: int = 0, with_generate_batched: bool = False) -> dict:
    """Greedy generation tokens/s: the engine's default path at `batch` vs plain Hugging Face
    `model.generate` one prompt at a time (the paper's scripts), same prompts, in one run; token ids
    compared prompt by prompt."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    spec = parse_run_spec({"model": {"id": model_dir}, "method": "none",
                           "tasks": ["gen-python", "trans-java-cs", "sum-python", "gen-java"],
                           "eval": {"limit": max(1, -(-n_prompts // 4))}})
    settings = load_settings()
    prepared = data.prepare(spec, data_dir)
    tasks = data.task_objects(spec)
    model, tokenizer = models.load_for_generation(spec, settings, "cpu", None)
    requests = [generate.GenRequest((ex.task, ex.id), generate.render_prompt(tokenizer, tasks[ex.task].messages(ex)),
                                    max_new, tuple(tasks[ex.task].stop_strings()))
                for exs in prepared.evaluation.values() for ex in exs][:n_prompts]
    stop_ids = tuple(models.stop_token_ids(tokenizer, model))
    modes = [("engine", batch, "auto"), ("one_at_a_time", 1, "generate")]
    if with_generate_batched:
        modes.insert(1, ("generate_batched", batch, "generate"))
    results = {}
    tokens_by_mode = {}
    for label, size, backend in modes:
        started = time.perf_counter()
        outs = [o for b in generate.generate(model, tokenizer, requests, generate.DecodeSettings(
                    batch_size=size, stop_token_ids=stop_ids, backend=backend)) for o in b]
        seconds = time.perf_counter() - started
        tokens = sum(o.completion_tokens for o in outs)
        results[label] = {"batch_size": size, "backend": backend, "seconds": seconds, "new_tokens": tokens,
                          "tokens_per_s": tokens / seconds}
        tokens_by_mode[label] = {o.key: o.token_ids for o in outs}
    base = tokens_by_mode["one_at_a_time"]
    same = sum(tokens_by_mode["engine"][k] == base[k] for k in base)
    prompt_lengths = [len(tokenizer(r.prompt, add_special_tokens=False)["input_ids"]) for r in requests]
    return {"model": model_dir, "prompts": len(requests), "max_new_tokens": max_new, "threads": torch.get_num_threads(),
            "prompt_tokens_mean": sum(prompt_lengths) / len(prompt_lengths), **results,
            "speedup": results["engine"]["tokens_per_s"] / results["one_at_a_time"]["tokens_per_s"],
            "identical_outputs": f"{same}/{len(base)}", "identical": same == len(base)}


def main() -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(settings.models_dir / "SmolLM2-135M-Instruct"))
    parser.add_argument("--data-dir", default=str(settings.data_dir))
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--with-generate-batched", action="store_true",
                        help="also time Hugging Face generate() at --batch (the engine's path before its token loop)")
    parser.add_argument("--max-new", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--skip", choices=["train", "generate"], action="append", default=[])
    parser.add_argument("--out")
    args = parser.parse_args()
    report = {}
    if "train" not in args.skip:
        report["training"] = bench_training(args.model, args.steps, args.train_batch, args.max_length,
                                            Path(args.data_dir))
        t = report["training"]
        print(f"LoRA training: {t['tokens_per_s']:.0f} tokens/s ({t['seconds_per_step']:.1f} s/step, "
              f"batch {t['batch_size']} × ≤{t['max_length']} tokens, peak {t['peak_mem_mb']:.0f} MB)")
    if "generate" not in args.skip:
        report["generation"] = g = bench_generation(args.model, args.prompts, args.batch, args.max_new,
                                                    Path(args.data_dir), args.threads, args.with_generate_batched)
        print(f"generation, {g['prompts']} prompts (mean {g['prompt_tokens_mean']:.0f} tokens), "
              f"≤{g['max_new_tokens']} new tokens, {g['threads']} threads:")
        for label in ("engine", "generate_batched", "one_at_a_time"):
            if label in g:
                r = g[label]
                print(f"  {label:<16} {r['backend']:<8} batch {r['batch_size']:<3} {r['seconds']:7.1f} s  "
                      f"{r['tokens_per_s']:6.1f} tokens/s")
        print(f"  engine / one-at-a-time: {g['speedup']:.2f}×   identical greedy outputs: "
              f"{'yes' if g['identical'] else 'no'} ({g['identical_outputs']} token-identical)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
