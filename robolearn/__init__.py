"""robolearn: a real-robot learning stack for the Franka Panda and its MuJoCo digital twin."""

__version__ = "0.1.0"
