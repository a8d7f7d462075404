"""Import-order safety: a process that renders a MuJoCo env offscreen (OSMesa, whose llvmpipe
loads libLLVM-15) and uses torch (which loads triton's own LLVM lazily) must not segfault,
whichever comes first. Each order runs in a fresh interpreter: the crash happens when triton's
native library is loaded, and pytest's process has its own import history (tests/conftest.py
even blocks triton). robolearn/__init__.py holds the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = textwrap.dedent(
    """
    import importlib.util, json, sys

    XML = '''
    <mujoco>
      <worldbody>
        <light pos="0 0 1"/>
        <geom type="box" size=".1 .1 .1" rgba="1 0 0 1"/>
        <camera name="cam" pos="0 -1 0.3" xyaxes="1 0 0 0 0.3 1"/>
      </worldbody>
    </mujoco>
    '''

    def render():
        # A user's own env, not robolearn's: a plain mujoco.Renderer on a tiny model.
        import mujoco
        model = mujoco.MjModel.from_xml_string(XML)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        renderer = mujoco.Renderer(model, 32, 32)
        renderer.update_scene(data, camera="cam")
        frame = renderer.render()
        assert frame.shape == (32, 32, 3) and frame.max() > 0, "blank frame"
        renderer.close()

    def torch_op():
        import torch
        x = torch.randn(8, 8, requires_grad=True)
        (x @ x).tanh().sum().backward()
        assert torch.isfinite(x.grad).all()

    def agent():
        import gymnasium as gym
        import numpy as np
        import torch
        from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

        obs_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        config = RLPDConfig(hidden_dims=(16, 16), num_critics=2, batch_size=8)
        a = RLPDAgent(obs_space, act_space, config)
        assert a.act(np.zeros(4, np.float32)).shape == (2,)
        # The first step of a torch optimizer imports torch._dynamo, which imports triton.
        p = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.Adam([p], lr=0.1)
        (p - 1.0).square().sum().backward()
        opt.step()
        assert float(p.sum()) > 0

    def report():
        maps = open("/proc/self/maps").read()
        print(json.dumps({
            "osmesa": "libOSMesa" in maps,
            "triton_installed": importlib.util.find_spec("triton") is not None,
            "triton_loaded": "libtriton" in maps,
        }))
    """
)

ORDERS = {
    # The user's env renders first, then robolearn's learner (the order that crashed).
    "render_then_learn": """
        render()
        import robolearn.learn
        torch_op()
        agent()
        render()
    """,
    # The user also imports and uses torch (no triton yet) before robolearn.
    "render_torch_then_learn": """
        render()
        torch_op()
        import robolearn.learn
        agent()
        render()
    """,
    # robolearn first (the order that always worked).
    "learn_then_render": """
        import robolearn.learn
        torch_op()
        agent()
        render()
        agent()
    """,
}


def _run(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "order.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + "report()\n")
    env = {
        **os.environ,
        "MUJOCO_GL": "osmesa",
        "PYOPENGL_PLATFORM": "osmesa",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("ROBOLEARN_TRITON_DEEPBIND", None)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_import_order_does_not_crash(order: str, tmp_path: Path) -> None:
    proc = _run(ORDERS[order], tmp_path)
    how = f"exit code {proc.returncode}"
    if proc.returncode < 0:
        how += f" ({signal.Signals(-proc.returncode).name})"
    assert proc.returncode == 0, f"{order}: {how}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["osmesa"], "the renderer did not load libOSMesa: the test checks nothing"
    # Where triton is installed (torch's CUDA wheels), the optimizer step must have loaded it.
    assert facts["triton_loaded"] == facts["triton_installed"], facts
