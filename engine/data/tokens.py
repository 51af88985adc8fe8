"""How long prompts are for a model, without loading it: its context from config.json and prompt lengths
in tokens, for the data preflight (engine.data.preflight).

The context is `max_position_embeddings` (or the older names n_positions, n_ctx, seq_length,
max_sequence_length; a multimodal config's text_config) of the model's config.json, read from a
local model folder or, for a hub id, from the Hugging Face cache (never the network). Without one
the context check is skipped, with a note saying why.

Prompt tokens are counted with the model's tokenizer.json through the `tokenizers` library (Rust, no
torch or transformers) when the model has one, for prompts long enough to matter (over LONG_BYTES
bytes: a shorter prompt has at most that many tokens); otherwise, and for those, they are estimated
as characters / 3.5. A chat template adds PROMPT_OVERHEAD tokens. Tokenizers and counts are cached in
the process.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.settings import Settings
from engine.spec import RunSpec

CHARS_PER_TOKEN = 3.5
PROMPT_OVERHEAD = 16  # tokens a chat template adds around the system and user turns
LONG_BYTES = 1024  # prompts at most this long (in UTF-8 bytes) are only estimated
MAX_COUNTED_CHARS = 400_000  # longer prompts are estimated (no tokenizer run over megabytes)
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length", "max_sequence_length")

_TOKENIZERS: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()


def estimate(chars: int) -> int:
    """Estimated tokens of a prompt of `chars` characters (chat template included)."""
    return math.ceil(chars / CHARS_PER_TOKEN) + PROMPT_OVERHEAD


@dataclass(frozen=True)
class ModelLimits:
    """The model's context (None: unknown, check skipped), where it came from, and the tokenizer file
    prompts are counted with (None: estimated)."""

    context: int | None
    context_note: str
    tokenizer: Path | None = None

    @property
    def counting_note(self) -> str:
        """How prompt tokens are obtained, for the report."""
        if self.tokenizer is None:
            return f"prompt tokens estimated as characters / {CHARS_PER_TOKEN:g}"
        return (f"prompt tokens counted with {self.tokenizer} (prompts under {LONG_BYTES} bytes estimated as "
                f"characters / {CHARS_PER_TOKEN:g})")

    @property
    def tokenizer_key(self) -> str:
        """A key for cached counts: the tokenizer file, or 'estimate'."""
        return str(self.tokenizer) if self.tokenizer else "estimate"

    def count(self, texts: list[str]) -> list[int]:
        """Tokens of each prompt (chat template included): counted when the model has a tokenizer."""
        tokenizer = tokenizer_from_file(self.tokenizer) if self.tokenizer else None
        if tokenizer is None:
            return [estimate(len(t)) for t in texts]
        countable = [i for i, t in enumerate(texts) if len(t) <= MAX_COUNTED_CHARS]
        out = [estimate(len(t)) for t in texts]
        encoded = tokenizer.encode_batch([texts[i] for i in countable], add_special_tokens=False)
        for i, enc in zip(countable, encoded, strict=True):
            out[i] = len(enc.ids) + PROMPT_OVERHEAD
        return out


def tokenizer_from_file(path: Path) -> Any:
    """A `tokenizers.Tokenizer` from tokenizer.json (cached by path and mtime); None if it fails."""
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    with _LOCK:
        if key in _TOKENIZERS:
            return _TOKENIZERS[key]
    try:
        from tokenizers import Tokenizer  # pylint: disable=import-outside-toplevel  # Rust; no torch

        tokenizer = Tokenizer.from_file(str(path))
    except Exception:  # pylint: disable=broad-exception-caught  # any unreadable file means: estimate
        tokenizer = None
    with _LOCK:
        _TOKENIZERS[key] = tokenizer
    return tokenizer


def context_of(config: dict[str, Any]) -> int | None:
    """The context length a config.json states, if any."""
    for section in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            value = section.get(key) if isinstance(section, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _model_files(spec: RunSpec, settings: Settings) -> tuple[Path | None, Path | None, str]:
    """(config.json, tokenizer.json, a note when there is no config) of the model, on this machine."""
    from engine.models.load import ModelNotAvailable, resolve_source  # light: no torch import

    try:
        source = resolve_source(spec, settings)
    except ModelNotAvailable:
        return None, None, "the model is not available here (see the model problem)"
    if source.local:
        folder = Path(source.location)
        config, tokenizer = folder / "config.json", folder / "tokenizer.json"
        return (config if config.is_file() else None, tokenizer if tokenizer.is_file() else None,
                f"no config.json in {folder}")
    from huggingface_hub import try_to_load_from_cache  # pylint: disable=import-outside-toplevel

    found: list[Any] = []
    for name in ("config.json", "tokenizer.json"):
        try:
            found.append(try_to_load_from_cache(spec.model.id, name, revision=spec.model.revision))
        except Exception:  # pylint: disable=broad-exception-caught  # e.g. an id the hub would refuse
            found.append(None)
    config, tokenizer = (Path(f) if isinstance(f, str) else None for f in found)
    return config, tokenizer, f"'{spec.model.id}' is not in the Hugging Face cache yet"


def model_limits(spec: RunSpec, settings: Settings) -> ModelLimits:
    """The spec's model context and tokenizer file, from local files only."""
    config_path, tokenizer, missing = _model_files(spec, settings)
    if config_path is None:
        return ModelLimits(None, f"context check skipped: {missing}", tokenizer)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return ModelLimits(None, f"context check skipped: {config_path} is unreadable ({exc})", tokenizer)
    context = context_of(config) if isinstance(config, dict) else None
    if context is None:
        return ModelLimits(None, f"context check skipped: {config_path} states no max_position_embeddings",
                           tokenizer)
    return ModelLimits(context, f"context {context} tokens (max_position_embeddings in {config_path})", tokenizer)
