"""How much memory a device has free: what the batch sizing of training and generation, and the
packed CPU weights, plan against."""

from __future__ import annotations


def free_memory_bytes(device: str) -> int | None:
    """Free device memory (CUDA) or available RAM (CPU), if it can be read."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
