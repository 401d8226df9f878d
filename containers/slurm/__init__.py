"""Slurm configuration for the pod image."""
