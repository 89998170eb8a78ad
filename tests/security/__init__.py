"""Adversarial tests: hostile images, races, bad input and faults against configure (docs/security.md)."""
