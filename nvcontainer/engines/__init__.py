"""Engine configuration: register our runtime with docker, containerd and CRI-O.

``runtime.configure(RuntimeRequest(...))`` is the one entry.  Each engine module (``docker``,
``containerd``, ``crio``) turns the old file's text into the new text (pure, format-preserving;
``jsonedit`` splices JSON); ``files.update`` does the safe write: a lock against concurrent runs,
a ``.bak`` backup, and an atomic replace.  ``compat`` makes NVIDIA's program names (a link, two launchers).
"""
