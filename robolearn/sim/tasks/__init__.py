"""Tasks of the twin; importing this package registers `reach`, `pick_cube`, `peg_insert`."""

from robolearn.sim.tasks import peg_insert, pick_cube, reach  # noqa: F401
from robolearn.sim.tasks.base import TASKS, Expert, Task, TaskEval

__all__ = ["TASKS", "Expert", "Task", "TaskEval"]
