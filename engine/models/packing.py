"""Padding-free rows for the optimised training path: the examples of one micro-batch packed into
rows of at most `max_length` tokens, with position ids restarting at every example, so that no
token attends to another example and almost no padding is computed.

transformers (5.x) builds a block-diagonal causal mask from such position ids when neither a 2-D
attention mask nor a KV cache reaches the model (masking_utils.find_packed_sequence_indices, for
SDPA and eager; flash-attention takes the same boundaries as varlen lengths): the forward pass
must run with `use_cache=False`, as training does. The collator still returns an
`attention_mask` so that the trainer counts real tokens as the reference path does; the optimised
loss (engine.models.fast) drops it before the forward pass.

The first label of every example after the first in a row is masked: it is the target of the
previous example's last token, which unpacked training never trains on either. So the summed loss
and the count of trained tokens equal those of the padded, unpacked batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


def _segments(example: dict[str, Any]) -> list[tuple[list[int], list[int]]]:
    """An example as (input_ids, labels) segments: a packed example of TRL's bfd strategy carries
    the lengths of the sequences it holds (`seq_lengths`), any other is one segment."""
    ids = list(example["input_ids"])
    labels = list(example.get("labels", ids))
    lengths = example.get("seq_lengths") or [len(ids)]
    out, start = [], 0
    for length in lengths:
        out.append((ids[start:start + length], labels[start:start + length]))
        start += length
    return out


def bin_segments(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: segment indices grouped into rows of at most `capacity` tokens (a
    segment longer than the capacity gets a row of its own). Deterministic for equal lengths."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(capacity - lengths[i])
    return rows


@dataclass
class PaddingFreeCollator:
    """Collates a micro-batch into padding-free rows with per-example position ids."""

    pad_token_id: int
    max_length: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        segments = [s for example in examples for s in _segments(example) if s[0]]
        rows = bin_segments([len(ids) for ids, _ in segments], self.max_length)
        width = max(sum(len(segments[i][0]) for i in row) for row in rows)
        shape = (len(rows), width)
        input_ids = torch.full(shape, self.pad_token_id, dtype=torch.long)
        labels = torch.full(shape, -100, dtype=torch.long)
        position_ids = torch.zeros(shape, dtype=torch.long)
        attention_mask = torch.zeros(shape, dtype=torch.long)
        for r, row in enumerate(rows):
            at = 0
            for k, i in enumerate(row):
                ids, lab = segments[i]
                n = len(ids)
                input_ids[r, at:at + n] = torch.tensor(ids)
                labels[r, at:at + n] = torch.tensor(lab)
                if k:
                    labels[r, at] = -100
                position_ids[r, at:at + n] = torch.arange(n)
                attention_mask[r, at:at + n] = 1
                at += n
            # the padding tail is a sequence of its own (positions from 0), so no real token sees it
            position_ids[r, at:] = torch.arange(width - at)
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids,
                "attention_mask": attention_mask}
