"""The fault-injection suite (issue 9), with real processes: workers are `python -m ui.cli worker`,
each run executes in its child process, and faults are what an operator meets.

1. submit races: several processes submit overlapping studies at the same instant while another
   claims runs, repeated: every run directory complete, each run created and claimed exactly once,
   every study recorded;
2. chaos: 20 small runs (none, LoRA, FFT, QLoRA; greedy and sampled) on two workers while a seeded
   chaos loop SIGKILLs a worker in train, generate, score, analyse or at a random moment and starts
   a replacement: 0 runs lost, 0 duplicated (run files, events and DuckDB after ingest);
3. resumed = uninterrupted: FFT, LoRA and QLoRA, greedy and sampled, each run once uninterrupted
   and once killed after its first checkpoint and again in the middle of generation: the same
   weights, generations, scores and metrics;
4. corrupt and vanished run files while workers run: the queue goes on, the other runs finish;
5. a full disk (a size-limited tmpfs under the runs folder): claim and submit fail clearly, nothing
   is half-written, and once space is freed the runs complete.

Every wait is bounded; every test is marked slow (`make test-slow`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runs import queue
from engine.runs.rundir import RunDir, iter_runs, read_json
from engine.settings import load_settings
from engine.spec import expand_study, parse_run_spec, parse_study_spec
from engine.vocabulary import CORRUPT, DONE, FAILED, PHASES, QUEUED, RUNNING, TERMINAL_STATES
from tests.process_helpers import alive, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.05
SEED = 20240909


# --- processes -----------------------------------------------------------------------------------


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = POLL_S,
              detail: Callable[[], str] | None = None) -> Any:
    return wait_for(predicate, timeout, what, interval, detail)


def _children(pid: int) -> list[int]:
    """Live descendants of `pid` (from /proc): its zygote, the run processes the zygote forked, ..."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if fields[0] != "Z":
                parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(parents.get(child, []))
    return found


def _worker_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CODETUNE_RUNS_DIR", "CODETUNE_DB", "CODETUNE_STUDIES_DIR", "CODETUNE_MODELS_DIR")}
    # one thread per run process: two workers on a small machine do not fight over the cores, and
    # the uninterrupted and the resumed runs compute with the same settings
    env.update(CODETUNE_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


class Pool:
    """The worker processes of one workspace; each logs to its own file."""

    def __init__(self, home: Path, logs: Path, once: bool = False, **env: str):
        self.home = home
        self.logs = logs
        self.once = once
        self.env = _worker_env(home, **env)
        self.procs: list[subprocess.Popen] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self) -> subprocess.Popen:
        """Start one more worker."""
        path = self.logs / f"worker-{len(self.procs)}.log"
        with open(path, "wb") as log:
            # niceness 5 (inherited by the run processes): on a busy machine the test's chaos and kill
            # loops still wake up on time to catch a run between two of its steps
            proc = subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
                [sys.executable, "-m", "ui.cli", "worker", *(["--once"] if self.once else [])],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=lambda: os.nice(5))
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen]:
        """The workers still running."""
        return [p for p in self.procs if p.poll() is None]

    def current_run(self, proc: subprocess.Popen) -> str | None:
        """The run a worker executes now, from its registry entry."""
        entry = read_json(self.home / "workers" / f"{socket.gethostname()}-{proc.pid}.json")
        return entry.get("run") if isinstance(entry, dict) else None

    def kill(self, proc: subprocess.Popen) -> list[int]:
        """SIGKILL a worker; its run process must die with it (PR_SET_PDEATHSIG). Returns those pids."""
        children = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        for child in children:
            _wait_for(lambda c=child: not alive(c), 30, f"run process {child} to die with its worker")
        return children

    def output(self) -> str:
        """Everything the workers printed so far."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM every live worker (idle ones exit within a poll) and wait for them."""
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {proc.pid} did not stop on SIGTERM:\n{self.output()[-3000:]}")

    def kill_all(self) -> None:
        """SIGKILL whatever is left (test teardown)."""
        for proc in self.alive():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


@pytest.fixture()
def pools(tmp_path) -> Iterator[Callable[..., Pool]]:
    """A factory of worker pools; every worker left is SIGKILLed at teardown."""
    made: list[Pool] = []

    def make(home: Path, name: str = "workers", once: bool = False, **env: str) -> Pool:
        pool = Pool(home, tmp_path / "logs" / f"{name}-{len(made)}", once=once, **env)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.kill_all()


# --- runs ----------------------------------------------------------------------------------------


def _spec(model: Path, method: str, sampled: bool, seed: int = 42, task: str = "gen-python", *,
          max_steps: int = 4, save_steps: int = 2, limit: int = 2, max_new_tokens: int = 8, max_length: int = 512):
    return parse_run_spec({
        "model": {"id": str(model)},
        "method": method,
        "tasks": [{"name": task, "cap": 16}],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": max_steps, "save_steps": save_steps, "batch_size": 2, "grad_accum": 1,
                  "max_length": max_length, "learning_rate": 1e-3, "seed": seed},
        # batches of one, each a resume point (a kill lands between them)
        "eval": {"limit": limit, "max_new_tokens": max_new_tokens, "batch_size": 1, "auto_batch": False,
                 "timeout_s": 20, "n_samples": 2 if sampled else 1, "temperature": 0.8 if sampled else 0.0},
    })


def _events(run: RunDir) -> list[dict[str, Any]]:
    return run.read_events()[0]


def _states(settings, ids: list[str]) -> dict[str, str]:
    return {rid: RunDir(settings.runs_dir / rid).read_status().state for rid in ids}


def _all_terminal(settings, ids: list[str]) -> bool:
    return all(state in TERMINAL_STATES for state in _states(settings, ids).values())


def _rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist() if path.exists() else []


def _key(row: dict[str, Any]) -> tuple[str, str, int]:
    return row["task"], row["sample_id"], int(row["sample_index"])


def _duplicates(keys: list[tuple]) -> list[tuple]:
    return [key for key, n in Counter(keys).items() if n > 1]


def _check_complete_once(run: RunDir, spec, count_attempts: bool = True) -> list[str]:
    """Problems with a finished run: lost or duplicated samples, phases run twice, loose parts."""
    problems = []
    status = run.read_status()
    if status.state != DONE:
        return [f"{run.run_id}: {status.state} ({status.error})"]
    if status.phases_done != list(PHASES):
        problems.append(f"{run.run_id}: phases_done {status.phases_done}")
    events = _events(run)
    claims = [e for e in events if e["type"] == "claimed"]
    if count_attempts and len(claims) != status.attempts:
        problems.append(f"{run.run_id}: {len(claims)} claims for {status.attempts} attempts")
    ends = Counter(e["phase"] for e in events if e["type"] == "phase" and e.get("status") == "end")
    if any(n > 1 for n in ends.values()):
        problems.append(f"{run.run_id}: a phase completed twice {dict(ends)}")
    for number, claim in enumerate(claims, start=1):  # each attempt runs only what was not done, once
        later = events[events.index(claim) + 1:]
        later = later[:later.index(claims[number])] if number < len(claims) else later
        started = [e["phase"] for e in later if e["type"] == "phase" and e.get("status") == "start"]
        if set(started) & set(claim["phases_done"]) or len(started) != len(set(started)):
            problems.append(f"{run.run_id}: attempt {number} ran {started} after {claim['phases_done']}")
        if number == len(claims) and [*claim["phases_done"], *started] != list(PHASES):
            problems.append(f"{run.run_id}: the last attempt ran {started} after {claim['phases_done']}")
    if sum(e["type"] == "done" for e in events) != 1:
        problems.append(f"{run.run_id}: 'done' recorded {sum(e['type'] == 'done' for e in events)} times")
    generations = _rows(run.artifact("generations"))
    keys = [_key(r) for r in generations]
    expected = spec.eval.limit * spec.eval.n_samples
    if len(set(keys)) != expected or _duplicates(keys):
        problems.append(f"{run.run_id}: {len(keys)} generations ({len(set(keys))} distinct) for {expected}")
    outcomes = [_key(r) for r in _rows(run.artifact("outcomes"))]
    if _duplicates(outcomes) or (outcomes and set(outcomes) != set(keys)):
        problems.append(f"{run.run_id}: outcomes do not match the generations one to one")
    scores = [(*_key(r), r["metric"]) for r in _rows(run.artifact("scores"))]
    if not scores or _duplicates(scores):
        problems.append(f"{run.run_id}: {len(_duplicates(scores))} duplicated scores of {len(scores)}")
    quality = [(*_key(r), r["tool"], r["measure"]) for r in _rows(run.artifact("quality"))]
    if _duplicates(quality):
        problems.append(f"{run.run_id}: duplicated quality rows")
    if not read_json(run.file("metrics.json"), {}).get("tasks"):
        problems.append(f"{run.run_id}: metrics.json without tasks")
    loose = sorted(p.name for p in run.path.glob("*.parts"))
    if loose:
        problems.append(f"{run.run_id}: parts folders left {loose}")
    return problems


def _duckdb_duplicates(settings) -> dict[str, int]:
    """Per table, the number of keys that occur more than once in the DuckDB index."""
    import duckdb

    keys = {
        "runs": "run_id",
        "run_keys": "run_id",
        "events": "run_id, seq",
        "metrics": "run_id, task, metric",
        "generations": "run_id, task, sample_id, sample_index",
        "outcomes": "run_id, task, sample_id, sample_index",
        "scores": "run_id, task, sample_id, sample_index, metric",
        "quality": "run_id, task, sample_id, sample_index, tool, measure",
    }
    with contextlib.closing(duckdb.connect(str(settings.db_path), read_only=True)) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY ALL "
                                    "HAVING count(*) > 1)").fetchone()[0]
                for table, cols in keys.items()}


def _duckdb_counts(settings, table: str, by: str = "run_id") -> dict[str, int]:
    import duckdb

    with contextlib.closing(duckdb.connect(str(settings.db_path), read_only=True)) as conn:
        return dict(conn.execute(f"SELECT {by}, count(*) FROM {table} GROUP BY {by}").fetchall())


# --- 1. submit races -----------------------------------------------------------------------------


def _race_study(name: str, models: list[str]):
    return parse_study_spec({"name": name, "models": models, "tasks": ["gen-python", "sum-java"],
                             "configurations": [{"name": "ST-LoRA", "method": "lora", "mode": "single"},
                                                {"name": "MT-LoRA", "method": "lora"}]})


def _race_submitter(home: str, name: str, models: list[str], barrier, results) -> None:
    os.environ["CODETUNE_HOME"] = home
    study = _race_study(name, models)
    settings = load_settings()
    barrier.wait(timeout=60)
    try:
        record = queue.submit_study(study, settings, check=False)
        results.put(("submit", name, [(r["run_id"], r["created"]) for r in record["runs"]], None))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # reported to the parent
        results.put(("submit", name, [], repr(exc)))


def _race_claimer(home: str, submitters_done, barrier, results) -> None:
    """Claims runs while they are being submitted, marks each done; drains the queue at the end."""
    from engine.runs.rundir import release_lock

    os.environ["CODETUNE_HOME"] = home
    settings = load_settings()
    claimed: list[str] = []
    barrier.wait(timeout=60)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            finished = submitters_done.is_set()  # read before claiming: a last pass after the submits
            got = queue.claim_next(settings)
            if got is None:
                if finished:
                    break
                continue
            run, fd = got
            claimed.append(run.run_id)
            run.update_status(state=DONE, phases_done=list(PHASES), finished_at=time.time())
            release_lock(fd)
        results.put(("claim", "claimer", claimed, None))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        results.put(("claim", "claimer", claimed, repr(exc)))


def test_concurrent_submits_and_claims_lose_and_duplicate_nothing(tmp_path):
    """Four processes submit four overlapping studies at the same instant while a fifth claims runs
    as they appear; three trials. Every run directory is complete, each run is created by exactly one
    submit and claimed exactly once, and every study is recorded with all its runs."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch/duckdb threads
    pool = [f"org/model-{i}" for i in range(6)]
    studies = {f"s{k}": ["org/shared", *pool[k:k + 3]] for k in range(4)}
    expected = {name: {item.spec.run_id() for item in expand_study(_race_study(name, models))}
                for name, models in studies.items()}
    all_ids = set().union(*expected.values())
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        barrier, results, done = ctx.Barrier(len(studies) + 1), ctx.Queue(), ctx.Event()
        submitters = [ctx.Process(target=_race_submitter, args=(str(home), name, models, barrier, results))
                      for name, models in studies.items()]
        claimer = ctx.Process(target=_race_claimer, args=(str(home), done, barrier, results))
        for proc in (*submitters, claimer):
            proc.start()
        outcomes = [results.get(timeout=120) for _ in submitters]
        done.set()
        outcomes.append(results.get(timeout=120))
        for proc in (*submitters, claimer):
            proc.join(timeout=60)
            assert proc.exitcode == 0, (trial, proc.exitcode)
        assert all(error is None for *_, error in outcomes), outcomes

        settings = load_settings({"CODETUNE_HOME": str(home)})
        folders = list(settings.runs_dir.iterdir())
        assert not [p.name for p in folders if p.name.startswith(".")], "staging folders left behind"
        runs = {r.run_id: r for r in iter_runs(settings.runs_dir)}
        assert set(runs) == {p.name for p in folders} == all_ids, trial
        creators = Counter(rid for kind, _, pairs, _ in outcomes if kind == "submit"
                           for rid, created in pairs if created)
        assert creators == Counter(all_ids), f"trial {trial}: runs created {creators.most_common(3)}"
        claimed = next(pairs for kind, _, pairs, _ in outcomes if kind == "claim")
        assert Counter(claimed) == Counter(all_ids), f"trial {trial}: each run is claimed exactly once"
        for run in runs.values():
            events = _events(run)
            assert [e["type"] for e in events].count("submitted") == 1, run.run_id
            assert [e["type"] for e in events].count("claimed") == 1, run.run_id
            assert run.read_status().state == DONE and run.read_spec()["model"]["id"]
        recorded = {s["name"]: s for s in queue.list_studies(settings)}
        assert set(recorded) == set(studies)
        for name, ids in expected.items():
            assert {r["run_id"] for r in recorded[name]["runs"]} == ids, (trial, name)


# --- 2. SIGKILL chaos over 20 runs ---------------------------------------------------------------

CHAOS_METHODS = ("none", "lora", "fft", "qlora")
CHAOS_RUNS = 20
CHAOS_TIMEOUT_S = 600


def _chaos_specs(model: Path) -> list:
    specs = []
    for i in range(CHAOS_RUNS):
        method = CHAOS_METHODS[i % 4]
        translation = i in (4, 9)  # zero-shot and LoRA
        specs.append(_spec(model, method, sampled=(i // 4) % 2 == 1, seed=i,
                           task="trans-java-cs" if translation else "gen-python"))
    return specs


def _current_phase(run: RunDir) -> str:
    """What the run's current attempt does: the phase it started last, or 'starting' before its first
    (status.json still names the phase of the attempt before, while the new run process starts up)."""
    phase = "starting"
    for event in _events(run):
        if event["type"] == "claimed":
            phase = "starting"
        elif event["type"] == "phase":
            phase = event["phase"] if event.get("status") == "start" else f"after {event['phase']}"
    return phase


def _busy_workers(pool: Pool, settings) -> list[tuple[subprocess.Popen, RunDir, str]]:
    """(worker, its run, what the run does) for every live worker that executes a run."""
    busy = []
    for proc in pool.alive():
        run_id = pool.current_run(proc)
        if run_id:
            run = RunDir(settings.runs_dir / run_id)
            if run.read_status().state == RUNNING:
                busy.append((proc, run, _current_phase(run)))
    return busy


def test_sigkill_chaos_over_twenty_runs_loses_and_duplicates_nothing(workspace, data_dir, tiny_model, pools):
    """20 runs, two workers, and a seeded chaos loop that SIGKILLs a worker in each phase or at a
    random moment (and starts a replacement): every run ends done, once, with no duplicated sample,
    phase or database row."""
    settings = load_settings()
    specs = _chaos_specs(tiny_model)
    ids = [queue.submit_run(spec, settings, check=i < 4).run_id for i, spec in enumerate(specs)]
    assert len(set(ids)) == CHAOS_RUNS
    spec_of = dict(zip(ids, specs, strict=True))
    pool = pools(workspace, "chaos")
    for _ in range(2):
        pool.start()
    rng = random.Random(SEED)
    plan = ["train", "train", "generate", "generate", "score", "analyse", None, None]
    rng.shuffle(plan)
    kills: list[dict[str, Any]] = []
    deadline = time.monotonic() + CHAOS_TIMEOUT_S
    for target in plan:
        if _all_terminal(settings, ids):
            break
        victim = None
        if target is None:  # a random worker at a random moment (idle, starting up or in any phase)
            time.sleep(rng.uniform(0.5, 6.0))
            victim = rng.choice(pool.alive())
        else:
            extra = rng.uniform(0.0, 0.6) if target in ("train", "generate") else 0.0
            wait_until = time.monotonic() + 90
            any_run_after = time.monotonic() + 30  # until then, only runs not killed yet: spread the kills
            while victim is None and time.monotonic() < min(wait_until, deadline):
                hits = [(p, r) for p, r, phase in _busy_workers(pool, settings) if phase == target]
                if time.monotonic() < any_run_after:
                    hits = [(p, r) for p, r in hits if r.run_id not in {k.get("run") for k in kills}]
                if hits:
                    time.sleep(extra)  # somewhere inside the phase, not only at its start
                    # still there? (a tiny model's generate phase can end within `extra`): else look
                    # again, waiting less
                    still = [p for p, r, phase in _busy_workers(pool, settings)
                             if phase == target and (p, r.run_id) in {(h[0], h[1].run_id) for h in hits}]
                    victim = rng.choice(still) if still else None
                    extra /= 2
                elif _all_terminal(settings, ids):
                    break
                else:
                    time.sleep(POLL_S)
        if victim is None or victim.poll() is not None:
            kills.append({"target": target, "missed": True})
            continue
        run_id = pool.current_run(victim)
        phase = _current_phase(RunDir(settings.runs_dir / run_id)) if run_id else "idle"
        children = pool.kill(victim)
        kills.append({"target": target, "run": run_id, "children": children, "phase": phase})
        pool.start()
        if len(kills) % 3 == 0:  # the app ingests while runs are in flux: that must not duplicate either
            from store.ingest import ingest_all

            ingest_all(settings)
    _wait_for(lambda: _all_terminal(settings, ids), max(deadline - time.monotonic(), 1), "every run to finish",
              interval=0.5)
    pool.stop()

    landed = [k for k in kills if not k.get("missed")]
    states = _states(settings, ids)
    lost = [rid for rid, state in states.items() if state != DONE]
    problems = [p for rid in ids for p in _check_complete_once(RunDir(settings.runs_dir / rid), spec_of[rid])]
    orphans = [pid for k in landed for pid in k["children"] if alive(pid)]

    from store.ingest import ingest_all

    report = ingest_all(settings)
    duplicated = _duckdb_duplicates(settings)
    db_generations = _duckdb_counts(settings, "generations")
    resumed = sum(RunDir(settings.runs_dir / rid).read_status().attempts > 1 for rid in ids)
    summary = {"runs": len(ids), "kills": len(landed), "missed": len(kills) - len(landed),
               "kill_phases": dict(Counter(k["phase"] for k in landed)), "resumed_runs": resumed,
               "lost": len(lost), "duplicated_in_files": len(problems),
               "duplicated_in_duckdb": sum(duplicated.values())}
    print(f"\nchaos: {json.dumps(summary)}")
    attempts = {rid: RunDir(settings.runs_dir / rid).read_status().attempts for rid in ids}
    assert not lost, ({rid: RunDir(settings.runs_dir / rid).read_status() for rid in lost}, kills, attempts)
    assert not problems, problems
    assert not orphans, f"run processes outlived their killed workers: {orphans}"
    assert len(landed) >= 6, kills
    assert {"train", "generate", "score", "analyse"} <= {k["phase"] for k in landed}, (kills, attempts)
    assert report.skipped is None and not report.warnings, str(report)
    assert not any(duplicated.values()), duplicated
    assert _duckdb_counts(settings, "runs", "state") == {DONE: CHAOS_RUNS}
    db_events = _duckdb_counts(settings, "events")
    for rid in ids:
        run = RunDir(settings.runs_dir / rid)
        assert db_generations.get(rid) == len(_rows(run.artifact("generations"))), rid
        assert db_events.get(rid) == len(_events(run)), rid


# --- 3. resumed = uninterrupted ------------------------------------------------------------------

RESUME_STEPS = 12  # checkpoints every 3: nine steps in which to kill after the first one
RESUME_LIMIT = 6  # eval batch size 1: six generation batches, so a kill can land between them


def _resume_specs(model: Path) -> dict[str, Any]:
    return {f"{method}-{'sampled' if sampled else 'greedy'}":
            _spec(model, method, sampled, seed=7, max_steps=RESUME_STEPS, save_steps=3, limit=RESUME_LIMIT,
                  max_new_tokens=32)
            for method in ("fft", "lora", "qlora") for sampled in (False, True)}


def _after_first_checkpoint(run: RunDir) -> bool:
    """In training, with a checkpoint saved and steps still to go."""
    steps = [e["step"] for e in _events(run) if e["type"] == "checkpoint"]
    status = run.read_status()
    return bool(steps) and max(steps) < RESUME_STEPS and "train" not in status.phases_done


def _mid_generation(run: RunDir) -> bool:
    """In generation, with at least one batch part written and batches still to go."""
    parts = len(list(run.file("generations.parts").glob("part-*.parquet")))
    status = run.read_status()
    return status.phase == "generate" and "generate" not in status.phases_done and 1 <= parts < RESUME_LIMIT


KILL_POINTS = {"train": _after_first_checkpoint, "generate": _mid_generation}


def _kill_at_point(pool: Pool, proc: subprocess.Popen, run: RunDir, point: str) -> bool:
    """If `run` (executed by `proc`) is at the kill point, freeze its run process, check the point
    again (nothing moves while it is stopped) and SIGKILL the worker; the frozen child dies with it."""
    if not KILL_POINTS[point](run):
        return False
    children = _children(proc.pid)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGSTOP)
    if proc.poll() is None and KILL_POINTS[point](run):
        pool.kill(proc)
        return True
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGCONT)
    return False


def _tensors(model_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (model_dir / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(str(model_dir / name))


def _compare_runs(a: RunDir, b: RunDir) -> tuple[list[str], float]:
    """What differs between two runs of the same spec (nothing, if resuming is exact), and the largest
    weight difference."""
    diffs = []
    wa, wb = _tensors(a.model_dir), _tensors(b.model_dir)
    if set(wa) != set(wb):
        return [f"weights: different tensors {sorted(set(wa) ^ set(wb))[:5]}"], float("inf")
    dtypes = {k: (wa[k].dtype, wb[k].dtype) for k in wa if wa[k].dtype != wb[k].dtype}
    if dtypes:
        diffs.append(f"weights saved in other dtypes: {sorted(set(dtypes.values()), key=str)}")
    max_diff = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    if max_diff > 0:
        diffs.append(f"weights differ by up to {max_diff:.3g}")
    sa, sb = read_json(a.file("train_summary.json")), read_json(b.file("train_summary.json"))
    for key in ("steps", "train_loss", "tokens_seen", "best_eval_loss"):
        if sa.get(key) != sb.get(key):
            diffs.append(f"train_summary {key}: {sa.get(key)} vs {sb.get(key)}")

    def gens(run: RunDir) -> list[tuple]:
        return sorted((*_key(r), r["completion"], r["prediction"], r["finish_reason"], r["completion_tokens"],
                       r["prompt_tokens"]) for r in _rows(run.artifact("generations")))

    ga, gb = gens(a), gens(b)
    if ga != gb:
        differing = sum(x != y for x, y in zip(ga, gb, strict=False)) + abs(len(ga) - len(gb))
        diffs.append(f"generations: {differing} of {len(ga)} differ")

    def scores(run: RunDir) -> list[tuple]:
        return sorted((*_key(r), r["metric"], r["value"]) for r in _rows(run.artifact("scores")))

    if scores(a) != scores(b):
        diffs.append("scores differ")
    outcomes_a = sorted((*_key(r), r["status"]) for r in _rows(a.artifact("outcomes")))
    outcomes_b = sorted((*_key(r), r["status"]) for r in _rows(b.artifact("outcomes")))
    if outcomes_a != outcomes_b:
        diffs.append("execution outcomes differ")

    def metrics(run: RunDir) -> dict[tuple[str, str], float]:
        tasks = read_json(run.file("metrics.json"), {}).get("tasks", {})
        return {(task, name): value for task, values in tasks.items() for name, value in values.items()
                if "per_s" not in name}  # throughput depends on the machine's load, not on the run

    ma, mb = metrics(a), metrics(b)
    if ma != mb:
        diffs.append(f"metrics.json: {sorted(k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k))[:6]}")
    return diffs, max_diff


def test_resumed_runs_equal_uninterrupted_ones(tmp_path, data_dir, tiny_model, pools):
    """FFT, LoRA and QLoRA, greedy and sampled: each spec runs uninterrupted in one workspace, and in
    another is killed mid-training after its first checkpoint, then again mid-generation after a batch
    part, and resumed by a new worker each time. The results are the same."""
    specs = _resume_specs(tiny_model)
    homes = {"plain": tmp_path / "plain", "killed": tmp_path / "killed"}
    settings = {name: load_settings({"CODETUNE_HOME": str(home), "CODETUNE_DATA_DIR": str(data_dir)})
                for name, home in homes.items()}
    ids: dict[str, str] = {}
    for name, spec in specs.items():
        for side in homes:
            ids[name] = queue.submit_run(spec, settings[side], check=False).run_id
    plain = pools(homes["plain"], "plain", once=True, CODETUNE_DATA_DIR=str(data_dir))
    killed = pools(homes["killed"], "killed", CODETUNE_DATA_DIR=str(data_dir))
    plain.start()
    for _ in range(2):
        killed.start()
    todo = {rid: ["train", "generate"] for rid in ids.values()}
    landed: list[tuple[str, str]] = []
    deadline = time.monotonic() + 600
    killed_ids = list(ids.values())
    while time.monotonic() < deadline and not _all_terminal(settings["killed"], killed_ids):
        for proc in killed.alive():
            run_id = killed.current_run(proc)
            if not run_id or not todo.get(run_id):
                continue
            run = RunDir(settings["killed"].runs_dir / run_id)
            point = todo[run_id][0]
            if _kill_at_point(killed, proc, run, point):
                todo[run_id].pop(0)
                landed.append((run_id, point))
                killed.start()
            elif point == "train" and "train" in run.read_status().phases_done:
                pytest.fail(f"{run_id} finished training before a kill could land after its first checkpoint")
        time.sleep(POLL_S)
    _wait_for(lambda: all(p.poll() is not None for p in plain.procs) or _all_terminal(settings["plain"], killed_ids),
              max(deadline - time.monotonic(), 1), "the uninterrupted runs")
    _wait_for(lambda: _all_terminal(settings["plain"], killed_ids), 60, "the uninterrupted runs to settle")
    killed.stop()
    plain.stop()

    missing = {rid: points for rid, points in todo.items() if points}
    assert not missing, f"kill points never reached: {missing}"
    report = {}
    for name, rid in ids.items():
        a, b = RunDir(settings["plain"].runs_dir / rid), RunDir(settings["killed"].runs_dir / rid)
        assert a.read_status().state == DONE, (name, a.read_status())
        assert b.read_status().state == DONE, (name, b.read_status())
        assert a.read_status().attempts == 1 and b.read_status().attempts == 3, name
        resumes = [e for e in _events(b) if e["type"] == "resume"]
        assert resumes and resumes[0]["checkpoint"].startswith("checkpoint-"), name
        begins = [e["resumed_at"] for e in _events(b) if e["type"] == "train_begin"]
        assert begins[0] == 0 and 0 < begins[1] < RESUME_STEPS, (name, begins)
        diffs, max_diff = _compare_runs(a, b)
        report[name] = {"max_weight_diff": max_diff, "differences": diffs}
    print(f"\nresumed vs uninterrupted: {json.dumps(report)}")
    assert not {name: r for name, r in report.items() if r["differences"]}, report


# --- 4. corrupt and vanished run files while workers run ----------------------------------------


def _training(run: RunDir) -> bool:
    return any(e["type"] == "train" for e in _events(run))


def _rm_rf(path: Path) -> None:
    """`rm -rf` of a folder that a process may still be writing into (bounded retries)."""
    for _ in range(50):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
    pytest.fail(f"could not remove {path}")


def test_corrupt_and_vanished_run_files_do_not_stop_the_queue(workspace, data_dir, tiny_model, pools):
    """While two workers run: a queued run's status.json is garbage, another's spec.json is garbage,
    a training run's folder is removed (`rm -rf`), and a training run's status.json, heartbeat.json
    and events.jsonl are scribbled over. The workers live on, the other runs finish, nothing is
    claimed twice, the corrupt run can be resumed, and the index ingests what is there."""
    settings = load_settings()
    vanishing = _spec(tiny_model, "lora", False, seed=100, max_steps=400, save_steps=50)
    # long enough to be scribbled over while it trains, not after it is done
    scribbled = _spec(tiny_model, "lora", False, seed=101, max_steps=96, save_steps=16)
    bad_status = _spec(tiny_model, "none", False, seed=102)
    bad_spec = _spec(tiny_model, "none", False, seed=103)
    good = [_spec(tiny_model, "none", sampled, seed=104 + i) for i, sampled in enumerate((False, True, False))]
    run = {name: RunDir(settings.runs_dir / queue.submit_run(spec, settings, check=False).run_id)
           for name, spec in (("vanishing", vanishing), ("scribbled", scribbled), ("bad_status", bad_status),
                              ("bad_spec", bad_spec), *((f"good{i}", s) for i, s in enumerate(good)))}
    run["bad_status"].status_path.write_bytes(b"\xff\xfe{garbage")
    run["bad_spec"].spec_path.write_bytes(b'{"model": {"id": ')
    pool = pools(workspace, "corrupt")
    first = [pool.start(), pool.start()]

    _wait_for(lambda: _training(run["vanishing"]), 180, "the vanishing run to train")
    assert any(pool.current_run(p) == run["vanishing"].run_id for p in first)
    child = _wait_for(lambda: read_json(run["vanishing"].file("heartbeat.json"), {}).get("child_pid"), 30,
                      "the vanishing run's heartbeat")
    orphans = [child, *_children(child)]  # the run process and its own children (not the worker's zygote)
    _rm_rf(run["vanishing"].path)
    _wait_for(lambda: "removed while running" in pool.output(), 60, "the worker to notice the removed run")
    _wait_for(lambda: not any(alive(pid) for pid in orphans), 30,
              "the removed run's process to be stopped (it would write into a resubmitted run)")

    _wait_for(lambda: _training(run["scribbled"]) and any(pool.current_run(p) == run["scribbled"].run_id
                                                          for p in first), 180, "the scribbled run to train")
    run["scribbled"].status_path.write_bytes(b"\x00\x00garbage")
    run["scribbled"].file("heartbeat.json").write_text("[1, 2]", encoding="utf-8")
    with open(run["scribbled"].events_path, "ab") as fh:
        fh.write(b'{"t": 1, "type": "tor\xff\n')

    rest = [r.run_id for name, r in run.items() if name not in ("vanishing", "bad_status")]
    _wait_for(lambda: _all_terminal(settings, rest), 400, "the other runs to finish", interval=0.5,
              detail=lambda: f"{_states(settings, rest)}\n{pool.output()[-3000:]}")
    assert [p for p in first if p.poll() is not None] == [], f"a worker died:\n{pool.output()[-3000:]}"
    assert not run["vanishing"].path.exists(), "the removed run came back"
    rows = {r["run_id"]: r for r in queue.list_runs(settings)}
    assert rows[run["bad_status"].run_id]["state"] == CORRUPT
    assert "status.json is not UTF-8" in rows[run["bad_status"].run_id]["error"]["message"]
    assert not [e for e in _events(run["bad_status"]) if e["type"] == "claimed"]
    failed = run["bad_spec"].read_status()
    assert failed.state == FAILED and "spec.json" in failed.error["message"], failed
    for i in range(len(good)):
        status = run[f"good{i}"].read_status()
        assert status.state == DONE and status.attempts == 1, status
        assert [e["type"] for e in _events(run[f"good{i}"])].count("claimed") == 1
    scribbled_status = run["scribbled"].read_status()
    assert scribbled_status.state == DONE, scribbled_status
    assert scribbled_status.error is None, scribbled_status
    # its attempt count went with the garbage; everything else is whole and once
    assert not _check_complete_once(run["scribbled"], scribbled, count_attempts=False)

    # the corrupt run goes back to the queue and runs; the submitted spec can be queued again
    assert queue.resume_run(settings, run["bad_status"].run_id) == QUEUED
    again = queue.submit_run(vanishing, settings, check=False)
    assert again.created and again.run_id == run["vanishing"].run_id
    queue.cancel_run(settings, again.run_id)
    _wait_for(lambda: _all_terminal(settings, [run["bad_status"].run_id]), 200, "the resumed corrupt run")
    assert run["bad_status"].read_status().state == DONE
    pool.stop()

    from store.ingest import ingest_all

    ingest_all(settings)
    assert not any(_duckdb_duplicates(settings).values())
    cli = subprocess.run([sys.executable, "-m", "ui.cli", "status"], cwd=ROOT, env=_worker_env(workspace),
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr


# --- 5. a full disk ------------------------------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path) -> Iterator[Path]:
    """A 16 MiB tmpfs (skips where mounting is not permitted)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no `mount` command to make a size-limited filesystem")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({made.stderr.strip() or made.returncode}); "
                    "the full-disk test needs root or CAP_SYS_ADMIN")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _fill(folder: Path) -> Path:
    """Fill the filesystem of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            for _ in range(64 << 20):  # bounded: far more than the filesystem holds
                try:
                    fh.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


def _half_written(runs_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(runs_dir)) for p in runs_dir.rglob("*")
                  if p.name.endswith((".tmp", ".partial")) or (p.parent == runs_dir and p.name.startswith(".")))


def test_a_full_disk_fails_clearly_leaves_nothing_half_written_and_recovers(
        workspace, data_dir, tiny_model, small_disk, pools, monkeypatch):
    """The runs folder on a small filesystem, filled to the last byte: submit and claim fail with
    ENOSPC and leave nothing behind, a worker says why and waits; a run that fills the disk while it
    trains stops without taking its worker down. After freeing space everything completes."""
    runs_dir = small_disk / "runs"
    monkeypatch.setenv("CODETUNE_RUNS_DIR", str(runs_dir))
    settings = load_settings()
    settings.ensure_dirs()
    waiting = RunDir(runs_dir / queue.submit_run(_spec(tiny_model, "none", False, seed=200), settings).run_id)
    filler = _fill(small_disk)

    late = _spec(tiny_model, "none", True, seed=201)
    with pytest.raises(OSError) as refused:
        queue.submit_run(late, settings)
    assert refused.value.errno == errno.ENOSPC and "No space left on device" in str(refused.value)
    assert not (runs_dir / late.run_id()).exists()
    with pytest.raises(OSError) as unclaimable:
        queue.claim_next(settings)
    assert unclaimable.value.errno == errno.ENOSPC
    assert waiting.read_status().state == QUEUED and not waiting.is_locked()
    assert _half_written(runs_dir) == []

    pool = pools(workspace, "disk", CODETUNE_RUNS_DIR=str(runs_dir))
    worker = pool.start()
    _wait_for(lambda: "No space left on device" in pool.output(), 60, "the worker to report the full disk")
    assert worker.poll() is None and waiting.read_status().state == QUEUED

    filler.unlink()
    _wait_for(lambda: _all_terminal(settings, [waiting.run_id]), 180, "the waiting run once space is free")
    assert waiting.read_status().state == DONE
    assert queue.submit_run(late, settings).created

    # the disk fills up while a run trains
    long = _spec(tiny_model, "lora", False, seed=202, max_steps=24, save_steps=4)
    victim = RunDir(runs_dir / queue.submit_run(long, settings).run_id)
    _wait_for(lambda: any(e["type"] == "checkpoint" for e in _events(victim)), 240, "a checkpoint of the long run")
    filler = _fill(small_disk)
    _wait_for(lambda: victim.read_status().state != RUNNING or not victim.is_locked(), 120,
              "the run to stop on the full disk")
    assert worker.poll() is None, f"the worker died on a full disk:\n{pool.output()[-3000:]}"
    assert _half_written(runs_dir) == []
    from engine.models.trainer import last_checkpoint

    resume_from = last_checkpoint(victim)
    assert resume_from and (Path(resume_from) / "trainer_state.json").exists()

    filler.unlink()
    if victim.read_status().state == FAILED:  # the child could record why: ENOSPC, and resume
        assert "No space left" in victim.read_status().error["message"], victim.read_status()
        assert queue.resume_run(settings, victim.run_id) == QUEUED
    # else it stayed `running` with its lock free: a worker claims it again by itself
    ids = [victim.run_id, late.run_id()]
    _wait_for(lambda: _all_terminal(settings, ids), 300, "every run to complete after freeing space")
    assert _states(settings, ids) == {rid: DONE for rid in ids}
    assert read_json(victim.file("train_summary.json"))["steps"] == 24
    assert not _check_complete_once(victim, long)
    pool.stop()
