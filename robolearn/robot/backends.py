"""Importing this module registers the built-in robot backends."""

from robolearn.robot import franka, twin  # noqa: F401 - franka imports pylibfranka lazily
