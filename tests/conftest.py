import os

# Offscreen rendering without a GPU (the Makefile sets these too).
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
