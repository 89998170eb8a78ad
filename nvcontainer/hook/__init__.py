"""The OCI prestart hook: ``nvc-container-runtime-hook prestart`` (NVIDIA's nvidia-container-runtime-hook).

It reads the OCI state on stdin, the bundle's config.json, turns the container's NVIDIA_*
variables into a ``nvcontainer.container.Request`` (``request.py``, pure) and configures the
container in-process.  ``isolation.py`` keeps the interpreter itself out of reach of the
environment it was started with.  Nothing heavy is imported until a GPU container is seen.
"""
