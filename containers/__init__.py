"""Code that runs inside the pod image (GPU exporter, Slurm config generator, log server)."""
