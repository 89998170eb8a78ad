"""nvcontainer.records: the light immutable records that replace frozen dataclasses on the hot path."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from nvcontainer.records import Record, asdict, field, fields, is_record, replace


class Point(Record):
    x: int
    y: int = 0
    note: str = field(default="", compare=False)
    tags: List[str] = field(default_factory=list)

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


class Point3(Point):
    z: Optional[int] = None


def test_positional_keyword_and_defaults() -> None:
    p = Point(1, y=2)
    assert (p.x, p.y, p.note, p.tags) == (1, 2, "", [])
    assert p.norm1 == 3
    assert fields(p) == ("x", "y", "note", "tags") == fields(Point)
    assert repr(p) == "Point(x=1, y=2, note='', tags=[])"


def test_factory_gives_each_instance_its_own_value() -> None:
    a, b = Point(1), Point(1)
    a.tags.append("t")
    assert b.tags == []


def test_immutable() -> None:
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]
    assert not hasattr(p, "__dict__")


def test_equality_and_hash_leave_out_uncompared_fields() -> None:
    a = Point(1, 2, note="a", tags=[])
    b = Point(1, 2, note="b", tags=[])
    assert a == b and not (a != b)
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != Point3(1)  # another record type is never equal
    assert Point(1) != (1, 0)

    class Pair(Record):
        a: int
        b: str = field(default="", compare=False)

    assert hash(Pair(1, "x")) == hash(Pair(1, "y")) and Pair(1, "x") == Pair(1, "y")
    with pytest.raises(TypeError, match="unhashable"):
        hash(Point(1))  # a list field: unhashable, as a frozen dataclass with one would be


@pytest.mark.parametrize("call, message", [
    (lambda: Point(), "missing argument: 'x'"),
    (lambda: Point(1, 2, "", [], 5), "takes 4 arguments"),
    (lambda: Point(1, w=3), "unexpected keyword argument 'w'"),
    (lambda: Point(1, x=3), "multiple values for argument 'x'"),
])
def test_bad_calls(call, message) -> None:
    with pytest.raises(TypeError, match=message):
        call()


def test_inheritance_appends_fields() -> None:
    p = Point3(1, 2, z=3)
    assert fields(p) == ("x", "y", "note", "tags", "z")
    assert p.norm1 == 3 and p.z == 3
    assert isinstance(p, Point) and is_record(p) and not is_record((1, 2))


def test_replace_asdict_pickle_copy() -> None:
    p = Point3(1, tags=["a"])
    q = replace(p, y=5)
    assert (q.x, q.y, q.tags, type(q)) == (1, 5, ["a"], Point3)
    with pytest.raises(TypeError, match="no field 'w'"):
        replace(p, w=1)

    class Outer(Record):
        inner: Tuple[Point, ...]

    assert asdict(Outer((Point(1),))) == {"inner": ({"x": 1, "y": 0, "note": "", "tags": []},)}
    assert pickle.loads(pickle.dumps(q)) == q
    assert copy.copy(q) is q
    deep = copy.deepcopy(q)
    assert deep == q and deep.tags is not q.tags


def test_required_after_default_is_refused() -> None:
    with pytest.raises(TypeError, match="'b' without a default"):
        class Bad(Record):
            a: int = 0
            b: int


def test_importing_records_imports_no_typing_or_dataclasses() -> None:
    root = str(Path(__file__).resolve().parents[1])
    code = (f"import sys; sys.path.insert(0, {root!r}); import nvcontainer.records; "
            "print(sorted(m for m in ('typing', 'dataclasses', 'inspect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
