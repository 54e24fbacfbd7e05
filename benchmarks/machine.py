"""The machine's speed, printed beside every benchmark's seconds (times vary by 1.5x
between machines and hours; the fp32 matrix-multiply rate says which kind of hour it was)."""

from __future__ import annotations

import time

import torch


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's float32 matrix-multiply rate, in GFLOP/s: 2·size³ FLOPs per product,
    the best of ``repeats`` products (the first one warms up)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9


def speed_line() -> str:
    """One line naming the machine's measured speed and torch's thread count."""
    return f"machine: fp32 matmul {matmul_gflops():.0f} GFLOP/s ({torch.get_num_threads()} threads)"
