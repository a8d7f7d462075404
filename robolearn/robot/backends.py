"""Importing this module registers the built-in robot backends."""

from robolearn.robot import twin  # noqa: F401
