"""clusterdash: a terminal dashboard for Slurm GPU clusters."""

import time

# The monotonic clock when the package was first imported: process start-up, near enough,
# where /proc cannot say it (first-paint timing on systems without /proc).
IMPORTED_AT = time.monotonic()
