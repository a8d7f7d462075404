"""Importing this module registers the built-in teleoperators (device libraries load lazily)."""

from robolearn.teleop import gamepad, keyboard, scripted, spacemouse  # noqa: F401
