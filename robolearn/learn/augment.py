"""Image augmentation for learning from pixels: DrQ's random shift.

DrQ (Kostrikov, Yarats and Fergus, "Image Augmentation Is All You Need: Regularizing Deep
Reinforcement Learning from Pixels", 2020, https://arxiv.org/abs/2004.13649, section 3.1) pads
each image by ``pad`` pixels on every side, repeating the border pixels, and crops a random
window of the original size back out: the image moves by up to ``pad`` pixels along each axis,
a different shift per sample. SERL applies the same random crop to its camera images.

The shift is done without padding or a Python loop over samples: a pixel of the output at row
``y`` reads input row ``clamp(y + dy, 0, H - 1)`` (the clamp *is* the replicate padding), so
two batched ``gather`` calls (rows, then columns) shift a whole batch exactly, in the images'
own dtype (uint8 frames stay uint8, no interpolation).

Augmentations are chosen by name from ``AUGMENTATIONS`` (``"drq"``: 4-pixel shift, as in DrQ;
``"none"``: identity), so `robolearn.learn.rlpd.RLPDConfig.image_augmentation` is one string.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from robolearn.registry import Registry

DRQ_PAD = 4  # pixels; DrQ's value for 84x84 frames, SERL's for 128x128


class ImageAugmentation(abc.ABC):
    """A random transform of a batch of images laid out ``(..., H, W, C)`` (channels last, as
    cameras and the episode store give them); the output has the input's shape and dtype."""

    @abc.abstractmethod
    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The augmented batch; randomness only from ``generator`` (reproducible)."""

    def apply(
        self,
        obs: Mapping[str, Tensor],
        keys: Sequence[str],
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """A copy of a flat observation dict with the image ``keys`` augmented (each camera
        with its own random draw); the other keys are passed through untouched."""
        out = dict(obs)
        for key in keys:
            out[key] = self(obs[key], generator)
        return out


AUGMENTATIONS: Registry[Callable[[], ImageAugmentation]] = Registry("image augmentation")


class RandomShift(ImageAugmentation):
    """DrQ's random shift: replicate-pad by ``pad`` pixels, random crop back to ``H x W``.

    Each image moves by an independent integer offset ``(dy, dx)``, each uniform in
    ``[-pad, pad]``; border pixels are repeated into the uncovered strip.
    """

    def __init__(self, pad: int = DRQ_PAD) -> None:
        if pad < 0:
            raise ValueError(f"the random shift's pad must be >= 0 pixels, got {pad}")
        self.pad = int(pad)

    def shifts(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, 2)`` integer offsets ``(dy, dx)`` in ``[-pad, pad]``, as `__call__` draws them."""
        device = generator.device if generator is not None else None
        return torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator, device=device) - (
            self.pad
        )

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if images.dim() < 3:
            raise ValueError(
                f"images must be laid out (..., H, W, C), got shape {tuple(images.shape)}"
            )
        if self.pad == 0:
            return images
        *lead, h, w, c = images.shape
        batch = images.reshape(-1, h, w, c)
        n = batch.shape[0]
        shifts = self.shifts(n, generator).to(batch.device)
        return shift_images(batch, shifts).reshape(*lead, h, w, c)

    def __repr__(self) -> str:
        return f"RandomShift(pad={self.pad})"


def shift_images(images: Tensor, shifts: Tensor) -> Tensor:
    """Move image ``i`` of ``(N, H, W, C)`` by ``shifts[i] = (dy, dx)`` pixels, repeating the
    border: ``out[i, y, x] = images[i, clamp(y + dy), clamp(x + dx)]``. Batched, exact."""
    n, h, w, c = images.shape
    rows = (torch.arange(h, device=images.device) + shifts[:, :1]).clamp_(0, h - 1)  # (N, H)
    cols = (torch.arange(w, device=images.device) + shifts[:, 1:]).clamp_(0, w - 1)  # (N, W)
    out = torch.gather(images, 1, rows[:, :, None, None].expand(n, h, w, c))
    return torch.gather(out, 2, cols[:, None, :, None].expand(n, h, w, c))


class NoAugmentation(ImageAugmentation):
    """The identity (turns augmentation off)."""

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return images


AUGMENTATIONS.register("drq")(lambda: RandomShift(DRQ_PAD))
AUGMENTATIONS.register("none")(NoAugmentation)


def make_augmentation(name: str) -> ImageAugmentation:
    """The augmentation registered as ``name`` (``"drq"`` or ``"none"``)."""
    return AUGMENTATIONS.get(name)()
