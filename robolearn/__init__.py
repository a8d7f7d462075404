"""robolearn: a real-robot learning stack for the Franka Panda and its MuJoCo digital twin."""

from __future__ import annotations

import os as _os
import sys as _sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__version__ = "0.1.0"


# Import-order safety of MuJoCo rendering and torch (triton).
#
# With MUJOCO_GL=osmesa, `import mujoco` loads Mesa's libOSMesa through PyOpenGL with
# RTLD_GLOBAL, which puts its dependency libLLVM-15.so.1 (llvmpipe) in the process's global
# symbol scope. triton's extension module triton/_C/libtriton.so links its own LLVM statically
# and exports those symbols; its calls to them are bound through the global scope first, so when
# it is loaded after OSMesa its static initialisers run against libLLVM-15's code and data
# (gdb: free() from llvm::DenseMap in `_GLOBAL__sub_I_PassBuilder.cpp` of libtriton.so: SIGSEGV).
# torch loads triton lazily: `import torch._dynamo`, and the first step of any torch.optim
# optimizer. So "import/render a MuJoCo env, then train" crashed, whoever imported what first.
#
# The fix: the first time `triton._C.libtriton` is imported (by anyone, after robolearn), dlopen
# it with RTLD_DEEPBIND, so that it binds its LLVM symbols to its own copy; the import system's
# dlopen of the same file then reuses that handle. Loading order no longer matters. It is done
# here, not in robolearn.learn, because any robolearn import (robolearn.envs, robolearn.sim...)
# may come first, and lazily, so that `import robolearn` does not pay for triton.
# Not covered (nothing in robolearn has run yet): a process that loads OSMesa and then triton
# (e.g. a torch optimizer step) before its first robolearn import. Import robolearn first.
# ROBOLEARN_TRITON_DEEPBIND=0 turns this off (e.g. under an LD_PRELOADed allocator or ASan,
# which RTLD_DEEPBIND bypasses for libtriton's direct calls).
class _TritonDeepBind:
    """A `sys.meta_path` finder that preloads triton's native module with RTLD_DEEPBIND."""

    name = "triton._C.libtriton"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        try:
            _sys.meta_path.remove(self)
        except ValueError:
            pass
        import ctypes
        from importlib.machinery import ExtensionFileLoader, PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
            return None
        try:
            ctypes.CDLL(spec.origin, mode=_os.RTLD_NOW | _os.RTLD_LOCAL | _os.RTLD_DEEPBIND)
        except OSError:
            return None  # the regular import reports the problem
        return spec


def _install_triton_deepbind() -> None:
    if not hasattr(_os, "RTLD_DEEPBIND") or _os.environ.get("ROBOLEARN_TRITON_DEEPBIND") == "0":
        return  # not glibc: no RTLD_DEEPBIND
    if _TritonDeepBind.name in _sys.modules:
        return  # already loaded: it came before OSMesa, or the process would have crashed
    if not any(isinstance(f, _TritonDeepBind) for f in _sys.meta_path):
        _sys.meta_path.insert(0, _TritonDeepBind())


_install_triton_deepbind()
