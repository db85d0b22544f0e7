"""The ``kubernetes`` driver: one pod per agent, watched, adopted, and cleaned up."""
