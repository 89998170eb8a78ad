"""Apply: carry out a Plan inside a container's mount namespace (the only code that mounts)."""
