"""The `Robot` interface, its safety layer and backends (twin, Franka)."""
