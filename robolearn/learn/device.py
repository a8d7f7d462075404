"""The torch device of learners, actors' inference, image encoders and classifiers.

``"auto"`` (the default everywhere) is CUDA when a GPU is visible, else the CPU; ``"cpu"``,
``"cuda"`` and ``"cuda:N"`` choose one. Asking for CUDA where there is none is an error, not a
silent fall-back: a run that was meant for a GPU should not take hours on the CPU unnoticed.
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The `torch.device` for a config's ``device`` string."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: use auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is visible (torch.cuda)")
    return resolved
