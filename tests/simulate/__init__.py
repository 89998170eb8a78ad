"""Tests of the simulated NVIDIA driver (nvcontainer.simulate)."""
