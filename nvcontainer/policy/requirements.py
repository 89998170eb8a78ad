"""The ``--require`` predicate language: parse, evaluate against a driver and a GPU, report.

Grammar (the original's src/cli/dsl.c): a predicate is space-separated OR-clauses, each a
comma-separated AND-list of ``<name><op><value>`` terms; names are ``cuda``, ``driver``, ``arch``
(versions) and ``brand`` (string, ``=``/``!=`` only), matched case-insensitively.

Deliberate difference from the original: every term is validated when parsed, so a malformed term
is an "invalid expression" on every host, whereas the original only notices it if evaluation
reaches it (e.g. ``arch=x`` passes there when no GPU is selected).  Evaluation order and the
original's quirks otherwise hold: a clause made only of commas ends evaluation with the previous
result, ``!`` is read as ``!=``, and a failing term whose ``"name op value"`` rendering would not
fit the original's 128-byte buffer is an invalid expression.
"""

from __future__ import annotations

from nvcontainer.driver import Driver, Gpu
from nvcontainer.errors import InputError, RequirementError
from nvcontainer.policy.selection import Selection
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Sequence, Tuple, Union

MAX_REQUIREMENTS = 32
_EXPR_MAX = 128
_UINTMAX_MAX = 2**64 - 1
_OPERATOR_CHARS = "<>=!"
# In the original's lookup order; "!" alone matches "!=" there (strncmp over the written length).
_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_VERSION_NAMES = ("cuda", "driver", "arch")
_STRING_NAMES = ("brand",)
_CUDA_HINT_PREFIX = "cuda>="
_CUDA_HINT = ", please update your driver to a newer version, or use an earlier cuda container"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Term(Record):
    """One ``<name><op><value>`` comparison; ``name`` and ``op`` are canonical."""

    name: str  # cuda | driver | arch | brand
    op: str  # = != < <= > >=
    value: str
    written_name: str  # as typed, e.g. "CUDA"


class Requirement(Record):
    """A parsed predicate: OR over ``clauses``, each an AND over its terms."""

    predicate: str
    clauses: Tuple[Tuple[Term, ...], ...]

    @property
    def first_token(self) -> str:
        """What the original names in "unsatisfied condition: ..." (may be empty)."""
        return self.predicate.split(" ", 1)[0]


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _invalid() -> RequirementError:
    return RequirementError("invalid expression")


def _is_version(value: str) -> bool:
    """Whether the original's version comparison accepts ``value`` on the requirement side."""
    if not value or value[0] not in "0123456789" or value.strip("0123456789.") != "":
        return False
    return all(_component(part) is not None for part in value.split(".") if part)


def _component(digits: str) -> Optional[int]:
    """The value of a version component of ASCII ``digits``, None at 2**64-1 or more."""
    if len(digits.lstrip("0")) > 20:
        return None
    value = int(digits)
    return value if value < _UINTMAX_MAX else None


def _parse_term(text: str) -> Term:
    name_end = 0
    while name_end < len(text) and text[name_end] not in _OPERATOR_CHARS:
        name_end += 1
    op_end = name_end
    while op_end < len(text) and text[op_end] in _OPERATOR_CHARS:
        op_end += 1
    written_name, written_op, value = text[:name_end], text[name_end:op_end], text[op_end:]
    if not written_name or not written_op or not value:
        raise _invalid()
    op = "!=" if written_op == "!" else written_op
    if op not in _OPERATORS:
        raise _invalid()
    name = _ascii_lower(written_name)
    if name in _VERSION_NAMES:
        if not _is_version(value):
            raise _invalid()
    elif name in _STRING_NAMES:
        if op not in ("=", "!="):
            raise _invalid()
    else:
        raise _invalid()
    return Term(name=name, op=op, value=value, written_name=written_name)


def parse_requirement(predicate: str) -> Requirement:
    """Parse one ``--require`` value; raises ``RequirementError("invalid expression")``."""
    clauses = []
    for or_token in predicate.split(" "):
        if not or_token:
            continue
        clauses.append(tuple(_parse_term(t) for t in or_token.split(",") if t))
    return Requirement(predicate=predicate, clauses=tuple(clauses))


def parse_requirements(predicates: Iterable[Union[str, Requirement]]) -> Tuple[Requirement, ...]:
    """Parse every predicate; more than 32 is ``InputError("too many requirements")``."""
    items = list(predicates)
    if len(items) > MAX_REQUIREMENTS:
        raise InputError("too many requirements")
    return tuple(p if isinstance(p, Requirement) else parse_requirement(p) for p in items)


def _leading_number(text: str, pos: int) -> Tuple[int, int]:
    end = pos
    while end < len(text) and text[end] in "0123456789":
        end += 1
    if end == pos:
        raise ValueError(f"not a version: {text[:64]!r}")
    value = _component(text[pos:end])
    if value is None:
        raise ValueError(f"version component too large: {text[:64]!r}")
    return value, end


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def compare_versions(left: str, op: str, right: str) -> bool:
    """``left <op> right`` component-wise numerically, trailing ``.0`` ignored (``12.0 == 12``).

    Raises ``ValueError`` when either side holds anything but digits and dots, starts with a dot
    or has a component of 2**64-1 or more (the original's "invalid expression" cases).
    """
    if op not in _OPERATORS:
        raise ValueError(f"unknown operator: {op!r}")
    for text in (left, right):
        if text.strip("0123456789.") != "":
            raise ValueError(f"not a version: {text!r}")
    i = j = 0
    while i < len(left) and j < len(right):
        n1, i = _leading_number(left, i)
        n2, j = _leading_number(right, j)
        if n1 != n2:
            if op in ("=", "!="):
                return op == "!="
            return n1 < n2 if op in ("<", "<=") else n1 > n2
        i = _skip(left, i, ".")
        j = _skip(right, j, ".")
    # One side ran out: the other is bigger iff what remains holds a non-zero digit.
    left_more = _skip(left, i, ".0") < len(left)
    right_more = _skip(right, j, ".0") < len(right)
    if op == "!=":
        return left_more or right_more
    if op in ("=", "<=", ">=") and not left_more and not right_more:
        return True
    if op == "=":
        return False
    if op in ("<", "<="):
        return not left_more and right_more
    return left_more and not right_more


def _evaluate_term(term: Term, driver: Driver, gpu: Optional[Gpu]) -> bool:
    actual: Optional[str]
    if term.name == "cuda":
        actual = driver.cuda_version or None
    elif term.name == "driver":
        actual = driver.nvrm_version or None
    elif gpu is None:
        actual = None
    elif term.name == "arch":
        actual = gpu.architecture or None
    else:
        actual = gpu.brand or None
    if actual is None:
        return True  # unknown data satisfies the term, as in the original
    if term.name == "brand":
        same = _ascii_lower(actual) == _ascii_lower(term.value)
        result = same if term.op == "=" else not same
    else:
        try:
            result = compare_versions(actual, term.op, term.value)
        except ValueError:
            raise _invalid() from None
    if not result and len(term.written_name) + len(term.op) + len(term.value) + 2 >= _EXPR_MAX:
        raise _invalid()
    return result


def evaluate_requirement(requirement: Requirement, driver: Driver, gpu: Optional[Gpu]) -> bool:
    """Whether ``requirement`` holds for ``gpu`` (None: no device visible) on ``driver``."""
    result = True
    for clause in requirement.clauses:
        for term in clause:
            result = _evaluate_term(term, driver, gpu)
            if not result:
                break
        else:
            break  # this clause held (or had no terms): stop, keeping the last result
    return result


def unsatisfied_message(requirement: Requirement) -> str:
    token = requirement.first_token
    if token.startswith(_CUDA_HINT_PREFIX):
        return f"unsatisfied condition: {token}{_CUDA_HINT}"
    return f"unsatisfied condition: {token}"


def requirement_targets(selection: Selection) -> Tuple[Optional[Gpu], ...]:
    """The GPUs requirements are checked against: selected GPUs, then parents of selected MIGs.

    Returns ``(None,)`` when nothing is selected: the original then evaluates once, deviceless.
    """
    targets: List[Optional[Gpu]] = []
    for gpu in selection.gpus:
        if gpu not in targets:
            targets.append(gpu)
    for mig in selection.migs:
        parent = next((g for g in selection.gpus if g.index == mig.parent_index), None)
        if parent is not None and parent not in targets:
            targets.append(parent)
    return tuple(targets) if targets else (None,)


def check_requirements(
    predicates: Sequence[Union[str, Requirement]], driver: Driver, gpus: Sequence[Optional[Gpu]]
) -> None:
    """Check every predicate against every GPU in ``gpus`` (empty: once with no device).

    Raises ``InputError("too many requirements")``, ``RequirementError("invalid expression")`` or
    ``RequirementError("unsatisfied condition: <first token>[, please update ...]")``.
    """
    requirements = parse_requirements(predicates)
    for gpu in gpus or (None,):
        for requirement in requirements:
            if not evaluate_requirement(requirement, driver, gpu):
                raise RequirementError(unsatisfied_message(requirement))
