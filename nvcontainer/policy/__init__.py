"""policy layer of nvcontainer (see docs/architecture.md)."""
