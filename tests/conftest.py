"""Test-wide settings."""

import torch

# The tests use small tensors: one thread avoids OpenMP overhead and behaves well on a loaded 2-core machine.
torch.set_num_threads(1)
