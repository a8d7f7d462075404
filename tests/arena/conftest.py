import sys

import pytest

# MuJoCo's OSMesa and triton's LLVM segfault together (see tests/conftest.py); worker
# processes of the runner get the same guard in robolearn.arena.runner._init_worker.
sys.modules.setdefault("triton", None)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)
