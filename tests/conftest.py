import os
import sys

# Offscreen rendering without a GPU (the Makefile sets these too).
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

# MuJoCo rendering through OSMesa loads one LLVM; triton (pulled in by torch._dynamo) loads
# another, and the process segfaults. Tests run torch on the CPU only, where torch treats a
# failed triton import as "no triton". See robolearn.learn.__init__ for the library's guard.
sys.modules.setdefault("triton", None)
