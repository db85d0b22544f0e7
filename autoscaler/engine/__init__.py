"""The engine: one loop that owns all runtime state, and the pure planner it consults."""
