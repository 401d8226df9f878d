"""Read-only HTTP view of the vLLM log on the head (port 8002)."""
