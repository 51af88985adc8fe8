"""Shared pytest fixtures: the public data directory, an isolated workspace, offline mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    env = os.environ.get("CODETUNE_DATA_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(autouse=True, scope="session")
def _offline_environment():
    """No test may reach the Hugging Face hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["CODETUNE_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The store's reference runs (store.reference, read from <data dir>/paper_results) stay out of the
    # tests' stores unless a test asks for them (tests/store/test_reference.py): 18 runs in every
    # workspace would change what the other tests count and cost each fresh store seconds.
    os.environ.setdefault("CODETUNE_REFERENCE_RUNS", "0")
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data (or $CODETUNE_DATA_DIR); tests that need it skip with a reason when absent."""
    path = _default_data_dir()
    if not path.is_dir():
        pytest.skip(f"public data directory not found at {path} (set CODETUNE_DATA_DIR)")
    return path


@pytest.fixture()
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh CODETUNE_HOME for one test, with the data directory pointed at the shared data."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CODETUNE_HOME", str(home))
    monkeypatch.delenv("CODETUNE_RUNS_DIR", raising=False)
    monkeypatch.delenv("CODETUNE_DB", raising=False)
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(_default_data_dir()))
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama-style model + tokenizer saved locally (built once per test session)."""
    from engine.models.builders import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """A tiny random Qwen2-architecture model (QKV bias, like Qwen2.5-Coder)."""
    from engine.models.builders import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2", arch="qwen2")


def pytest_collection_modifyitems(config, items):
    """`gpu` tests skip with a reason where no CUDA device is visible."""
    del config
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
