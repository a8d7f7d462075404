"""Episode datasets: the zarr store, samplers, robomimic interop, inspection."""
