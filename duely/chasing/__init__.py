"""The chase domain: pure rules shared by workflows and the UI (no I/O)."""
