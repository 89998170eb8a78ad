"""Engine configuration: register our runtime with docker, containerd and CRI-O.

Each engine module turns the old file's text into the new text (pure); ``files.update`` does the
safe write: a lock against concurrent runs, a backup, and an atomic replace.
"""
