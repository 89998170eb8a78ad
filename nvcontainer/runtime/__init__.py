"""The runtime shim ``nvc-container-runtime`` (NVIDIA's nvidia-container-runtime).

It stands where runc stands: every subcommand is exec'd straight through to the low-level runtime
(``runc``/``crun``, config ``nvidia-container-runtime.runtimes``), except ``create``, for which the
bundle's config.json is first edited by the modifier of the configured mode (``modifiers.py``) —
in ``legacy`` mode: our prestart hook added for containers that ask for GPUs.
"""
