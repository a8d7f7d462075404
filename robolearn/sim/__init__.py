"""MuJoCo digital twin: scene assembly, tasks, rendering."""
