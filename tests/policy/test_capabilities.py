"""Capability flags, their implications, and NVIDIA_DRIVER_CAPABILITIES."""

from __future__ import annotations

import pytest

from nvcontainer.errors import InputError
from nvcontainer.policy.capabilities import (
    Capabilities,
    binary_capabilities,
    library_capabilities,
    parse_capability_flags,
    parse_driver_capabilities,
    wants_app_profile,
    wants_compat32,
    wants_compat_libs,
    wants_modeset,
    wants_uvm,
)


def caps(text: str) -> Capabilities:
    return parse_capability_flags(text)


def test_parse_flags_from_string_and_list():
    assert caps("utility compute") == parse_capability_flags(["compute", "utility"])
    assert list(caps("compat32 ngx video utility")) == ["utility", "video", "ngx", "compat32"]
    assert len(caps("compute compute")) == 1
    assert "compute" in caps("compute") and "utility" not in caps("compute")
    assert list(parse_capability_flags([])) == []


@pytest.mark.parametrize(
    "flags, bad", [("compute bogus", "bogus"), (["Compute"], "Compute"), ("all", "all"), ("supervised", "supervised")]
)
def test_unknown_flag(flags, bad):
    with pytest.raises(InputError) as info:
        parse_capability_flags(flags)
    assert info.value.message == f"invalid option: {bad}"


def test_capabilities_constructor_validates():
    with pytest.raises(InputError):
        Capabilities(frozenset({"gpu"}))


@pytest.mark.parametrize(
    "flags, libs, bins",
    [
        ("", {"dxcore"}, set()),
        ("utility", {"dxcore", "utility"}, {"utility"}),
        ("compute", {"dxcore", "compute"}, {"compute"}),
        ("video", {"dxcore", "video", "compute"}, set()),  # video => compute libs, not bins
        ("graphics", {"dxcore", "graphics"}, set()),
        ("display", {"dxcore", "graphics"}, set()),  # display => graphics libs
        ("ngx", {"dxcore", "ngx"}, set()),
        ("compat32", {"dxcore"}, set()),
        (
            "utility compute video graphics display ngx compat32",
            {"dxcore", "utility", "compute", "video", "graphics", "ngx"},
            {"utility", "compute"},
        ),
    ],
)
def test_library_and_binary_categories(flags, libs, bins):
    assert library_capabilities(caps(flags)) == libs
    assert binary_capabilities(caps(flags)) == bins


@pytest.mark.parametrize(
    "flags, uvm, modeset, compat_libs, profile",
    [
        ("utility", False, False, False, False),
        ("compute", True, False, True, False),
        ("video", True, False, True, False),
        ("graphics", False, False, False, True),
        ("display", False, True, False, True),
        ("ngx", False, False, False, False),
    ],
)
def test_device_and_extra_gates(flags, uvm, modeset, compat_libs, profile):
    c = caps(flags)
    assert (wants_uvm(c), wants_modeset(c), wants_compat_libs(c), wants_app_profile(c)) == (
        uvm,
        modeset,
        compat_libs,
        profile,
    )


def test_compat32_depends_on_machine():
    assert wants_compat32(caps("compat32"), "x86_64")
    assert wants_compat32(caps("compat32"), "aarch64")
    assert not wants_compat32(caps("compat32"), "ppc64le")
    assert not wants_compat32(caps("compute"), "x86_64")


ALL = {"compute", "compat32", "graphics", "utility", "video", "display", "ngx"}


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, {"utility", "compute"}),
        ("", {"utility", "compute"}),
        ("  ", {"utility", "compute"}),
        (",", {"utility", "compute"}),
        ("all", ALL),
        ("compute,all", ALL),
        ("utility", {"utility"}),
        ("compute,video", {"compute", "video"}),
        ("compute,,video,", {"compute", "video"}),
        (" graphics , display ", {"graphics", "display"}),
        ("ngx,compat32", {"ngx", "compat32"}),
    ],
)
def test_parse_driver_capabilities(value, expected):
    assert parse_driver_capabilities(value) == expected


@pytest.mark.parametrize("value, bad", [("compute,bogus", "bogus"), ("COMPUTE", "COMPUTE"), ("gpu", "gpu")])
def test_parse_driver_capabilities_unknown(value, bad):
    with pytest.raises(InputError) as info:
        parse_driver_capabilities(value)
    assert info.value.line() == f"nvc-cli: input error: unsupported capability: {bad}"


def test_driver_capabilities_feed_flags():
    c = Capabilities(parse_driver_capabilities("all"))
    assert list(c) == ["utility", "compute", "video", "graphics", "display", "ngx", "compat32"]
