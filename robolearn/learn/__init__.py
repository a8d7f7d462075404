"""Learning: RLPD/SAC (SERL-style) on gymnasium envs, replay buffers, training loops.

- `robolearn.learn.rlpd`: `RLPDConfig`, `RLPDAgent` (SAC + LayerNorm critic ensemble, RLPD).
- `robolearn.learn.networks`: observation encoders (registry ``ENCODERS``), the batched critic
  ensemble, the tanh-Gaussian actor.
- `robolearn.learn.replay`: `ReplayBuffer` (numpy ring buffer, npz files) and `load_demos`.
- `robolearn.learn.train`: `train_rlpd`, the in-process training loop, and `evaluate`.
- `robolearn.learn.learner`: `Learner` (agent + online/demo buffers + counters, atomic
  checkpoints), shared by the in-process loop and the ROS 2 learner node.
- `robolearn.learn.actor`: the transport-free actor loop of distributed training;
  `robolearn.learn.codec`: the versioned wire format of transition batches and weights.
- `robolearn.learn.augment`: DrQ random shift; `robolearn.learn.reward_classifier`: SERL's
  success classifier and the `ClassifierReward` wrapper.
- `robolearn.learn.metrics_log`: TensorBoard scalars, progress bar, learning-curve PNG;
  `robolearn.learn.simulated_operator`: a scripted stand-in for the human who intervenes.
- `robolearn.learn.cli`: `robolearn train serl | classifier`.
"""

try:
    # torch's optimizers import torch._dynamo on first use, which imports triton where the torch
    # build ships it (the CUDA wheels). Importing triton after Mesa's OSMesa library is loaded
    # (MuJoCo offscreen rendering, MUJOCO_GL=osmesa) kills the process with a segmentation
    # fault; loading it here, before any env renders, avoids that.
    import torch._dynamo  # noqa: F401
except ImportError:  # pragma: no cover - torch builds without dynamo
    pass
