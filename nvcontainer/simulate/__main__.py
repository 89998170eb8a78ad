"""Entry point of ``python -m nvcontainer.simulate`` (see ``nvcontainer.simulate.cli``)."""

from __future__ import annotations

import sys

from nvcontainer.simulate.cli import main

if __name__ == "__main__":
    sys.exit(main())
