"""One invoice's chase: its state and plan, what holds it, and how the rest of duely talks to its
workflow."""
