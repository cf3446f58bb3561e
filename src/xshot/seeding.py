"""One seed for every generator a run draws from: Python's, numpy's and torch's (CPU and every CUDA device)."""

from __future__ import annotations

import random
import sys


def seed_everything(seed: int) -> None:
    """Reset random, numpy and, when loaded, torch to ``seed`` (nothing heavy is imported for it).

    Cells run one after another in one process (locally, and in reused Ray workers): without this, anything
    drawn before a run seeds itself would depend on which cells ran before it in that process."""
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
