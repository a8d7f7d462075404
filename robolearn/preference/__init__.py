"""PEARL: cross-task preference transfer (CPA) and robust reward learning (RRL).

Liu et al., "PEARL: Zero-shot Cross-task Preference Alignment and Robust Reward Learning for
Robotic Manipulation", ICML 2024, https://arxiv.org/abs/2306.03615.

- `segments`: segment references into episode datasets, their arrays.
- `data`: preference pairs stored beside a dataset (``<dataset>.preferences/<name>.jsonl``).
- `labeller`: the scripted (noisy) labeller; `collect`: varied-quality twin datasets.
- `alignment`: CPA (Gromov-Wasserstein with POT, label transfer).
- `reward`: RRL and Bradley-Terry reward models, the learned reward as a callable / env wrapper.
- `offline`: advantage-weighted behaviour cloning on a (learned) reward.
- `pipeline`: the steps on datasets; `evaluation`: `robolearn pearl report`.
"""

# torch's optimizers import triton on first use; after OSMesa is loaded that segfaults (see
# robolearn/learn/__init__.py), and robolearn.learn imports it first.
import robolearn.learn  # noqa: E402, F401
