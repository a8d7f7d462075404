"""Benchmarks of the stack: `env_throughput` compares the twin env with robosuite and MuJoCo."""
