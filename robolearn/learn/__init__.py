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
- `robolearn.learn.config`: `TrainConfig` (env + agent + loop), the one place of every
  training default, and the agent presets; `robolearn.learn.device`: ``device="auto"``.
- `robolearn.learn.cli`: `robolearn train serl | classifier`.

Importing MuJoCo's OSMesa renderer and torch's triton in either order is safe once any
`robolearn` module is imported (`robolearn/__init__.py` explains why).
"""
