"""The requirement DSL: parsing, evaluation, the original's messages, and version ordering."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer.errors import InputError, RequirementError
from nvcontainer.policy.requirements import (
    Requirement,
    Term,
    check_requirements,
    compare_versions,
    evaluate_requirement,
    parse_requirement,
    requirement_targets,
)
from nvcontainer.policy.selection import select_devices

HINT = ", please update your driver to a newer version, or use an earlier cuda container"
OPS = ("=", "!=", "<", "<=", ">", ">=")


@pytest.fixture
def a100(gpu_factory):
    return gpu_factory(0, 0x07, brand="Nvidia", arch="8.0")


@pytest.fixture
def v100(gpu_factory):
    return gpu_factory(1, 0x0F, brand="Tesla", arch="7.0")


@pytest.fixture
def driver(driver_factory, a100, v100):
    return driver_factory([a100, v100], cuda="12.4", nvrm="550.54.15")


def failure(predicates, driver, gpus) -> str:
    with pytest.raises(RequirementError) as info:
        check_requirements(predicates, driver, gpus)
    return info.value.message


# (predicate, holds for the A100 on CUDA 12.4 / driver 550.54.15)
CASES = [
    ("cuda>=12.4", True),
    ("cuda>=12.5", False),
    ("cuda>=12", True),
    ("cuda>12", True),
    ("cuda=12.4", True),
    ("cuda=12.4.0", True),
    ("cuda=12.4.0.0.00", True),
    ("cuda>12.4.0", False),
    ("cuda>=12.4.0.1", False),
    ("cuda!=12.4.0", False),
    ("cuda!=12.3", True),
    ("cuda<12.10", True),
    ("cuda<=12.04", True),
    ("cuda<13", True),
    ("cuda<12.4", False),
    ("CUDA>=12", True),
    ("Cuda<=12.4", True),
    ("driver>=550.54.15", True),
    ("driver>=550.54.16", False),
    ("driver<550.54.16", True),
    ("driver>550.54", True),
    ("driver>=418", True),
    ("driver<418", False),
    ("arch>=8.0", True),
    ("arch>=8", True),
    ("arch=8", True),
    ("arch>=9.0", False),
    ("arch<8.6", True),
    ("ARCH!=8.0", False),
    ("brand=nvidia", True),
    ("brand=NVIDIA", True),
    ("brand=Tesla", False),
    ("brand!=tesla", True),
    ("brand!=Nvidia", False),
    ("brand!nvidia", False),  # "!" alone reads as "!=" in the original
    ("BRAND=nvidia", True),
    ("cuda>=12.5 brand=nvidia", True),
    ("cuda>=12.5 brand=tesla", False),
    ("brand=tesla,driver>=418 brand=nvidia,driver>=418", True),
    ("brand=nvidia,driver>=600 brand=tesla,driver>=418", False),
    ("cuda>=11.0,driver>=450,arch>=8.0", True),
    ("cuda>=11.0,,driver>=450", True),
    ("cuda>=12.5  cuda>=12.4", True),
    ("", True),
    (" ", True),
    (",", True),
    ("cuda>=99 ,", False),  # a clause of only commas keeps the previous result
    (", cuda>=99", True),  # ... which is the initial "true" when it comes first
    ("cuda>=1 ,", True),
]


@pytest.mark.parametrize("predicate, holds", CASES)
def test_evaluate(driver, a100, predicate, holds):
    assert evaluate_requirement(parse_requirement(predicate), driver, a100) is holds


@pytest.mark.parametrize(
    "predicate, message",
    [
        ("cuda>=12.5", "unsatisfied condition: cuda>=12.5" + HINT),
        ("cuda>=13.0 brand=tesla", "unsatisfied condition: cuda>=13.0" + HINT),
        ("cuda>=13.0,driver>=400", "unsatisfied condition: cuda>=13.0,driver>=400" + HINT),
        ("CUDA>=13", "unsatisfied condition: CUDA>=13"),  # the hint prefix is case-sensitive
        ("cuda>13", "unsatisfied condition: cuda>13"),
        ("driver>=999", "unsatisfied condition: driver>=999"),
        ("brand=tesla,driver>=418 arch>=9.0", "unsatisfied condition: brand=tesla,driver>=418"),
        ("arch>=9.0 cuda>=13", "unsatisfied condition: arch>=9.0"),
        (" cuda>=13", "unsatisfied condition: "),  # the first space token is empty
    ],
)
def test_unsatisfied_messages(driver, a100, predicate, message):
    assert failure([predicate], driver, [a100]) == message


def test_error_line(driver, a100):
    with pytest.raises(RequirementError) as info:
        check_requirements(["cuda>=13"], driver, [a100])
    assert info.value.line() == "nvc-cli: requirement error: unsatisfied condition: cuda>=13" + HINT


@pytest.mark.parametrize(
    "predicate",
    [
        "cuda",
        "cuda>=",
        ">=12",
        "cuda=>12",
        "cuda==12",
        "cuda=<12",
        "cuda>>12",
        "cuda<>12",
        "cuda!==12",
        "cuda>=12a",
        "cuda>=.5",
        "cuda>=-1",
        "cuda>=1,2",  # "2" is a term without an operator
        "cuda>=12;",
        "cuda>=1e3",
        "cuda>=\u0661\u0662",
        "cuda>=18446744073709551615",
        "driver>=550.x",
        "arch>=x",
        "arch>=8.0\t",
        "foo=1",
        "cudaa>=12",
        "brand<tesla",
        "brand>=tesla",
        "brand=",
        "cuda>=12.4 cuda",
        "cuda>=12.4 bogus=1",  # rejected even though the first clause holds
        "\tcuda>=12",
    ],
)
def test_invalid_expression(predicate):
    with pytest.raises(RequirementError) as info:
        parse_requirement(predicate)
    assert info.value.message == "invalid expression"
    assert info.value.stage == "requirement"


def test_check_reports_invalid_before_evaluating(driver, a100):
    assert failure(["cuda>=12", "arch=x"], driver, [a100]) == "invalid expression"


def test_long_failing_term_overflows_the_original_buffer(driver, a100):
    long_brand = "brand=" + "x" * 120  # renders as "brand = xxx...": 128 chars, no room for the NUL
    assert failure([long_brand], driver, [a100]) == "invalid expression"
    short_brand = "brand=" + "x" * 119
    assert failure([short_brand], driver, [a100]) == f"unsatisfied condition: {short_brand}"
    check_requirements(["cuda>=1." + "0" * 200], driver, [a100])  # long but satisfied


def test_parse_tree():
    req = parse_requirement("CUDA>=12.0,brand!tesla  arch=8.0")
    assert req == Requirement(
        predicate="CUDA>=12.0,brand!tesla  arch=8.0",
        clauses=(
            (Term("cuda", ">=", "12.0", "CUDA"), Term("brand", "!=", "tesla", "brand")),
            (Term("arch", "=", "8.0", "arch"),),
        ),
    )
    assert req.first_token == "CUDA>=12.0,brand!tesla"


def test_every_selected_gpu_is_checked(driver, a100, v100):
    check_requirements(["arch>=7.0"], driver, [a100, v100])
    assert failure(["arch>=8.0"], driver, [a100, v100]) == "unsatisfied condition: arch>=8.0"
    assert failure(["brand=nvidia"], driver, [a100, v100]) == "unsatisfied condition: brand=nvidia"


def test_requirements_checked_in_gpu_then_predicate_order(driver, a100, v100):
    # v100 fails the second predicate first only if GPUs were the inner loop.
    assert failure(["brand=tesla", "arch>=8.0"], driver, [a100, v100]) == "unsatisfied condition: brand=tesla"


def test_no_device_means_unknown_device_data_holds(driver):
    check_requirements(["arch>=9.0", "brand=quadro"], driver, [None])
    check_requirements(["arch>=9.0", "brand=quadro"], driver, [])
    assert failure(["cuda>=13"], driver, []) == "unsatisfied condition: cuda>=13" + HINT


def test_unknown_brand_or_arch_holds(driver_factory, gpu_factory):
    gpu = gpu_factory(0, 0x07, brand="", arch="")
    check_requirements(["brand=tesla", "arch>=9.0"], driver_factory([gpu]), [gpu])


def test_unknown_cuda_version_holds(driver_factory, a100):
    check_requirements(["cuda>=99"], driver_factory([a100], cuda=""), [a100])


def test_max_requirements(driver, a100):
    check_requirements(["cuda>=1"] * 32, driver, [a100])
    with pytest.raises(InputError) as info:
        check_requirements(["cuda>=1"] * 33, driver, [a100])
    assert info.value.line() == "nvc-cli: input error: too many requirements"


def test_requirement_targets(dgx):
    def indexes(spec):
        return [g.index if g else None for g in requirement_targets(select_devices(dgx, spec))]

    assert requirement_targets(select_devices(dgx, None)) == (None,)
    assert indexes("0:1") == [0]
    assert indexes("4,0:2,2") == [4, 0, 2]
    assert len(requirement_targets(select_devices(dgx, "all"))) == 8


@pytest.mark.parametrize(
    "left, right, relation",
    [
        ("12.0", "12", 0),
        ("12", "12.0.0", 0),
        ("12.4", "12.10", -1),
        ("1.2.3", "1.2", 1),
        ("12..4", "12.4", 0),
        ("12.4.", "12.4", 0),
        ("007", "7", 0),
        ("1.05", "1.5", 0),
        ("1.0.01", "1", 1),
    ],
)
def test_compare_versions_table(left, right, relation):
    expected = {
        "=": relation == 0,
        "!=": relation != 0,
        "<": relation < 0,
        "<=": relation <= 0,
        ">": relation > 0,
        ">=": relation >= 0,
    }
    assert {op: compare_versions(left, op, right) for op in OPS} == expected


@pytest.mark.parametrize("bad", [".1", "1.a", "1,2", "-1", "18446744073709551615"])
def test_compare_versions_rejects(bad):
    with pytest.raises(ValueError):
        compare_versions("12.4", ">=", bad)


# --- properties -----------------------------------------------------------------------------------


def oracle(left: str, right: str) -> int:
    """-1/0/1 from integer tuples with trailing zero components dropped."""

    def key(text):
        parts = [int(p) for p in text.split(".") if p]
        while parts and parts[-1] == 0:
            parts.pop()
        return tuple(parts)

    a, b = key(left), key(right)
    return (a > b) - (a < b)


components = st.one_of(st.integers(0, 20), st.integers(0, 2**64 - 2))
versions = st.builds(
    lambda parts, pads, trailing: (
        ".".join("0" * p + str(n) for n, p in zip(parts, itertools.cycle(pads))) + ".0" * trailing
    ),
    st.lists(components, min_size=1, max_size=5),
    st.lists(st.integers(0, 2), min_size=1, max_size=5),
    st.integers(0, 2),
)


@settings(max_examples=500, database=None)
@given(versions, versions)
def test_version_order_matches_tuple_oracle(left, right):
    relation = oracle(left, right)
    assert compare_versions(left, "=", right) is (relation == 0)
    assert compare_versions(left, "!=", right) is (relation != 0)
    assert compare_versions(left, "<", right) is (relation < 0)
    assert compare_versions(left, "<=", right) is (relation <= 0)
    assert compare_versions(left, ">", right) is (relation > 0)
    assert compare_versions(left, ">=", right) is (relation >= 0)


@settings(max_examples=300, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions, st.sampled_from(OPS), versions)
def test_cuda_term_agrees_with_compare(driver_factory, a100, host, op, wanted):
    driver = driver_factory([a100], cuda=host)
    req = parse_requirement(f"cuda{op}{wanted}")
    assert evaluate_requirement(req, driver, a100) is compare_versions(host, op, wanted)


garbage = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="cudarivebnthCUDA<>=!., 0123456789xX\t-", max_size=40),
    st.lists(
        st.sampled_from(
            [
                "cuda",
                "driver",
                "arch",
                "brand",
                "CUDA",
                ">=",
                "=",
                "!",
                "!=",
                "<",
                ">",
                "12.4",
                "8.0",
                "tesla",
                ",",
                " ",
                ".",
                "0",
                "x",
            ]
        ),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=800, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage)
def test_garbage_parses_or_is_invalid(driver_factory, a100, predicate):
    try:
        req = parse_requirement(predicate)
    except RequirementError as exc:
        assert exc.message == "invalid expression"
        return
    assert isinstance(req, Requirement)
    driver = driver_factory([a100])
    for gpu in (a100, None):
        try:
            assert evaluate_requirement(req, driver, gpu) in (True, False)
        except RequirementError as exc:  # only the original's 128-byte rendering limit
            assert exc.message == "invalid expression"
