"""The result of one doctor check: a frozen ``Check`` and the three ways to make one.

``ok`` is ``True`` (passed), ``False`` (failed: ``fix`` says what to do, in one line) or ``None``
(nothing to judge: skipped, or information only).
"""

from __future__ import annotations

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


class Check(Record):
    """One line of the doctor's report."""

    name: str
    ok: Optional[bool]
    summary: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.ok is False

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "summary": self.summary, "fix": self.fix}


def passed(name: str, summary: str) -> Check:
    return Check(name=name, ok=True, summary=summary)


def failed(name: str, summary: str, fix: str) -> Check:
    return Check(name=name, ok=False, summary=summary, fix=" ".join(fix.split()))


def noted(name: str, summary: str) -> Check:
    """Skipped, or information only: neither a pass nor a failure."""
    return Check(name=name, ok=None, summary=summary)
