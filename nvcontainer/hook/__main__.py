"""``python -I -m nvcontainer.hook prestart``: the hook without a console script."""

from __future__ import annotations

import sys

from nvcontainer.hook.main import main

sys.exit(main())
