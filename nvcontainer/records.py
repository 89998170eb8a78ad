"""Light immutable records: what ``@dataclass(frozen=True)`` gave us, at a fraction of its cost.

The hook imports some 60 record types on every container start.  ``dataclasses`` costs 13-16 ms to
import (it pulls ``inspect``) and about 1 ms to create each class (it compiles several methods per
class); the Plan, the Driver and the request need none of that.  ``Record`` is a base class whose
metaclass reads the annotated fields of the class body (under ``from __future__ import
annotations`` they are plain strings; only the names matter) and makes a slotted class with:

* ``__init__`` taking the fields positionally or by name, with the defaults of the class body
  (``field(default_factory=...)`` for a fresh mutable default, ``field(compare=False)`` for a value
  left out of equality and hashing);
* immutability (``__setattr__``/``__delattr__`` raise ``AttributeError``), ``__eq__`` and
  ``__hash__`` over the compared fields, a ``__repr__`` like a dataclass's, pickling (the results
  of a forked child come back pickled);
* ``replace(record, **changes)``, ``fields(record_or_class)`` and ``asdict(record)`` as module
  functions.

Subclasses add fields after their base's.  Type checkers see ``dataclass_transform`` (PEP 681)
and check constructor calls as they would a frozen dataclass's.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported at run time: this module is on the hot path
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Tuple, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:
    def dataclass_transform(**_kwargs):
        return lambda cls: cls

_MISSING = object()


class Field:
    """What ``field(...)`` returns in a class body: a default (or a factory) and whether compared."""

    __slots__ = ("default", "default_factory", "compare")

    def __init__(self, default: Any, default_factory: Any, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True) -> Any:
    """A field's default (``default`` or a ``default_factory`` called per instance) and whether
    it takes part in equality and hashing."""
    return Field(default, default_factory, compare)


class _RecordType(type):
    """Turns the annotated names of a class body into slots with defaults (see the module text)."""

    def __new__(mcls, name: str, bases: Tuple[type, ...], namespace: Dict[str, Any]) -> _RecordType:
        inherited = [f for base in bases for f in getattr(base, "_fields", ())]
        defaults: Dict[str, Any] = {}
        factories: Dict[str, Any] = {}
        uncompared: set = set()
        for base in bases:
            defaults.update(getattr(base, "_defaults", {}))
            factories.update(getattr(base, "_factories", {}))
            uncompared.update(getattr(base, "_uncompared", ()))
        annotations = namespace.get("__annotations__", {})
        own = [f for f in annotations if f not in inherited and not f.startswith("_")
               and not str(annotations[f]).startswith("ClassVar")]
        for f in own:
            value = namespace.pop(f, _MISSING)
            if isinstance(value, Field):
                if not value.compare:
                    uncompared.add(f)
                if value.default_factory is not _MISSING:
                    factories[f] = value.default_factory
                    continue
                value = value.default
            if value is not _MISSING:
                defaults[f] = value
        fields = tuple(inherited + own)
        seen_default = False
        for f in fields:
            if f in defaults or f in factories:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{name}: field {f!r} without a default follows one with a default")
        namespace["__slots__"] = tuple(own)
        namespace["_fields"] = fields
        namespace["_defaults"] = defaults
        namespace["_factories"] = factories
        namespace["_uncompared"] = frozenset(uncompared)
        namespace["_compared"] = tuple(f for f in fields if f not in uncompared)
        return super().__new__(mcls, name, bases, namespace)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record(metaclass=_RecordType):
    """Base class of an immutable record; declare fields as annotated class attributes."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()
    _defaults: Dict[str, Any] = {}
    _factories: Dict[str, Callable[[], Any]] = {}
    _compared: Tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments, {len(args)} given")
        setter = object.__setattr__
        for name, value in zip(fields, args):
            setter(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in self._defaults:
                value = self._defaults[name]
            elif name in self._factories:
                value = self._factories[name]()
            else:
                raise TypeError(f"{type(self).__name__}() missing argument: {name!r}")
            setter(self, name, value)
        if kwargs:
            name = next(iter(kwargs))
            if name in fields[:len(args)]:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__name__}")

    def _key(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._compared)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, self._key()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (self.__class__, tuple(getattr(self, f) for f in self._fields))

    def __copy__(self) -> Record:
        return self

    def __deepcopy__(self, memo: Dict[int, Any]) -> Record:
        import copy

        return self.__class__(*(copy.deepcopy(getattr(self, f), memo) for f in self._fields))


def replace(record: R, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` (as ``dataclasses.replace``)."""
    unknown = [name for name in changes if name not in record._fields]
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {unknown[0]!r}")
    values = {f: changes[f] if f in changes else getattr(record, f) for f in record._fields}
    return record.__class__(**values)


def fields(record: Any) -> Tuple[str, ...]:
    """The field names of a record or record class, in declaration order (base class first)."""
    return tuple(record._fields)


def is_record(value: Any) -> bool:
    return isinstance(value, Record)


def asdict(record: Record) -> Dict[str, Any]:
    """The record as a dict, nested records, tuples and lists of them converted too."""
    return {f: _plain(getattr(record, f)) for f in record._fields}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
