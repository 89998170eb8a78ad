"""``python -I -m nvcontainer.hook prestart``: the hook without a console script."""

from __future__ import annotations

from nvcontainer.hook.main import entry

entry()
