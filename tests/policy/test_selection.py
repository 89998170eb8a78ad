"""Device selection: every token kind of the original's select_devices, and mig-config/monitor."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer.errors import DeviceError
from nvcontainer.policy.selection import (
    Selection,
    mig_config_gpus,
    mig_monitor_gpus,
    normalize_bus_id,
    select_devices,
)


def indexes(selection: Selection) -> list:
    return [g.index for g in selection.gpus]


def mig_ids(selection: Selection) -> list:
    return [(m.parent_index, m.index) for m in selection.migs]


def unknown(dgx, spec, token: str) -> None:
    with pytest.raises(DeviceError) as info:
        select_devices(dgx, spec)
    assert info.value.message == f"{token}: unknown device"
    assert info.value.line() == f"nvc-cli: device error: {token}: unknown device"


@pytest.mark.parametrize("spec", [None, "", ",", ",,,", [], [""]])
def test_nothing_selected(dgx, spec):
    assert select_devices(dgx, spec) == Selection((), (), False)


@pytest.mark.parametrize("token", ["all", "ALL", "All", "aLl"])
def test_all_selects_every_gpu_then_every_mig(dgx, token):
    selection = select_devices(dgx, token)
    assert selection.all is True
    assert indexes(selection) == list(range(8))
    assert mig_ids(selection) == [(0, 0), (0, 1), (0, 2)]


def test_all_stops_parsing(dgx):
    assert select_devices(dgx, "all,bogus").all is True
    assert select_devices(dgx, ["3", "all", "bogus"]).all is True
    unknown(dgx, "bogus,all", "bogus")


def test_all_after_other_tokens_keeps_their_order(dgx):
    selection = select_devices(dgx, "5,0:2,all")
    assert indexes(selection) == [5, 0, 1, 2, 3, 4, 6, 7]
    assert mig_ids(selection) == [(0, 2), (0, 0), (0, 1)]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("0", [0]),
        ("7", [7]),
        ("1,0", [1, 0]),
        ("3,1,3", [3, 1]),
        (" 2", [2]),
        ("+2", [2]),
        ("-0", [0]),
        ("02", [2]),
        ("\t4", [4]),
        (["1", "2,3"], [1, 2, 3]),
    ],
)
def test_index(dgx, spec, expected):
    selection = select_devices(dgx, spec)
    assert indexes(selection) == expected
    assert selection.migs == ()
    assert selection.all is False


@pytest.mark.parametrize("token", ["8", "99", "-1", "1x", "1 ", "0x1", "18446744073709551615", "1.0"])
def test_bad_index_is_unknown(dgx, token):
    unknown(dgx, token, token)


def test_gpu_uuid_full_and_case_insensitive(dgx):
    uuid = dgx.gpus[3].uuid
    assert indexes(select_devices(dgx, uuid)) == [3]
    assert indexes(select_devices(dgx, uuid.upper())) == [3]
    assert indexes(select_devices(dgx, "gpu-" + uuid[4:])) == [3]


@pytest.mark.parametrize("cut", [5, 12, -1])
def test_gpu_uuid_prefix_is_not_enough(dgx, cut):
    token = dgx.gpus[3].uuid[:cut]
    unknown(dgx, token, token)


def test_gpu_uuid_with_extra_text_is_unknown(dgx):
    token = dgx.gpus[3].uuid + "0"
    unknown(dgx, token, token)


@pytest.mark.parametrize("token", ["GPU-", "gpu-", "MIG-"])
def test_bare_uuid_prefix_is_unknown(dgx, token):
    unknown(dgx, token, token)


@pytest.mark.parametrize(
    "token, index",
    [
        ("00000000:07:00.0", 0),
        ("0000:0f:00.0", 1),
        ("0:47:0.0", 2),
        ("0:4E:00.0", 3),
        ("00000000:B7:00.0", 6),
        ("0:bd:0.0", 7),
        ("0x0:87:00.0", 4),
        ("0:90:00", 5),  # sscanf stops after three fields: ".0" is optional
        ("0:90:00.7", 5),  # ... and the function digit is not checked
        ("0:7:0.0", 0),
        (" 0: 7: 0.0", 0),  # %x skips leading whitespace
    ],
)
def test_pci_bus_id(dgx, token, index):
    assert indexes(select_devices(dgx, token)) == [index]


@pytest.mark.parametrize("token", ["07:00.0", "b7:00.0", "1:07:00.0", "2:0x07:00.0", "0:007:00.0"])
def test_pci_bus_id_needs_domain_and_two_digit_fields(dgx, token):
    unknown(dgx, token, token)


@pytest.mark.parametrize(
    "token, expected",
    [
        ("0:7:0.0", "00000000:07:00.0"),
        ("ABCD:b7:00.0", "0000abcd:b7:00.0"),
        ("0:7:0", "00000000:07:00.0"),
        ("0:123:0.0", None),  # width 2: "12", then "3" is not ":"
        ("0:12:345", "00000000:12:34.0"),
        ("-1:7:0", "ffffffff:07:00.0"),
        ("0:-1:0", "00000000:ffffffff:00.0"),
        ("0:0x:0", "00000000:00:00.0"),  # "0x" uses the whole width of 2 and reads as 0
        ("0:0x7:0", None),  # ... so the "7" meets the ":" of the format
        ("7:00.0", None),
        ("0:7", None),
        ("x:7:0", None),
        ("", None),
    ],
)
def test_normalize_bus_id_follows_sscanf(token, expected):
    assert normalize_bus_id(token) == expected


def test_pci_format_without_match_falls_through_to_mig_index(dgx):
    # "0:0:0.0" parses as a bus id no GPU has, then as "<gpu>:<mig>" = 0:0 (the original's order).
    selection = select_devices(dgx, "0:0:0.0")
    assert mig_ids(selection) == [(0, 0)]
    assert indexes(selection) == [0]


def test_mig_by_index_adds_parent(dgx):
    selection = select_devices(dgx, "0:1")
    assert mig_ids(selection) == [(0, 1)]
    assert indexes(selection) == [0]
    assert selection.all is False


def test_mig_by_uuid_case_insensitive(dgx):
    uuid = dgx.gpus[0].migs[2].uuid
    for token in (uuid, uuid.lower(), uuid.upper(), "mig-" + uuid[4:]):
        assert mig_ids(select_devices(dgx, token)) == [(0, 2)]


def test_mig_uuid_prefix_is_unknown(dgx):
    token = dgx.gpus[0].migs[2].uuid[:-3]
    unknown(dgx, token, token)


@pytest.mark.parametrize("token", ["0:3", "1:0", "8:0", "0:-1", ":1", "0:"])
def test_bad_mig_index_is_unknown(dgx, token):
    unknown(dgx, token, token)


def test_mig_index_ignores_trailing_text(dgx):
    # sscanf("%lu:%lu") == 2 is all the original checks.
    assert mig_ids(select_devices(dgx, "0:2abc")) == [(0, 2)]


def test_duplicates_are_ignored(dgx):
    mig = dgx.gpus[0].migs[1]
    selection = select_devices(dgx, ["0:1", mig.uuid, "0:1,0", dgx.gpus[0].uuid, "00000000:07:00.0"])
    assert mig_ids(selection) == [(0, 1)]
    assert indexes(selection) == [0]


def test_selection_order_is_token_order(dgx):
    selection = select_devices(dgx, "3,0:2,1,0:0")
    assert indexes(selection) == [3, 0, 1]
    assert mig_ids(selection) == [(0, 2), (0, 0)]


@pytest.mark.parametrize("token", ["none", "void", "bogus", "gpu0", "nvidia0", "GPU 0", "0.0"])
def test_unknown_tokens(dgx, token):
    unknown(dgx, f"0,{token},1", token)


def test_error_names_first_bad_token(dgx):
    unknown(dgx, ["1", "x,y"], "x")


def test_no_gpus_means_no_parsing(driver_factory):
    driver = driver_factory([])
    assert select_devices(driver, "bogus") == Selection()
    assert select_devices(driver, "all") == Selection()


def test_mig_config_not_requested(dgx):
    selection = select_devices(dgx, "0:1")
    for value in (None, "", ",,"):
        result = mig_config_gpus(selection, value)
        assert result.all is False and result.gpus == ()


def test_mig_config_all_with_all_devices(dgx):
    # Every A100 is MIG-capable, MIG mode on (GPU 0) or off: the original selects all eight.
    result = mig_config_gpus(select_devices(dgx, "all"), "all")
    assert result.all is True
    assert [g.index for g in result.gpus] == list(range(8))


def test_mig_config_keeps_mig_capable_gpus_in_selection_order(dgx):
    result = mig_monitor_gpus(select_devices(dgx, "3,0,1"), "ALL")
    assert result.all is True
    assert [g.index for g in result.gpus] == [3, 0, 1]
    assert [g.index for g in mig_config_gpus(select_devices(dgx, "3"), "all").gpus] == [3]


def test_mig_config_skips_gpus_that_are_not_mig_capable(gpu_factory, driver_factory):
    driver = driver_factory([gpu_factory(0, 0x07, mig_capable=False), gpu_factory(1, 0x0F, migs=1),
                             gpu_factory(2, 0x47), gpu_factory(3, 0x4E, mig_capable=False)])
    assert [g.index for g in mig_config_gpus(select_devices(driver, "all"), "all").gpus] == [1, 2]
    assert mig_monitor_gpus(select_devices(driver, "0,3"), "all").gpus == ()


def test_mig_config_with_nothing_selected(dgx):
    result = mig_config_gpus(select_devices(dgx, None), "all")
    assert result.all is True and result.gpus == ()


@pytest.mark.parametrize("func, stage", [(mig_config_gpus, "mig-config"), (mig_monitor_gpus, "mig-monitor")])
def test_mig_caps_refused_with_specific_migs(dgx, func, stage):
    with pytest.raises(DeviceError) as info:
        func(select_devices(dgx, "0:1"), "all")
    assert info.value.stage == stage
    assert info.value.line() == (
        f"nvc-cli: {stage} error: all: cannot enable {stage} with specific MIG devices selected"
    )


@pytest.mark.parametrize("func, stage", [(mig_config_gpus, "mig-config"), (mig_monitor_gpus, "mig-monitor")])
@pytest.mark.parametrize("value", ["0", "0:1", "bogus,all"])
def test_mig_caps_only_all(dgx, func, stage, value):
    with pytest.raises(DeviceError) as info:
        func(select_devices(dgx, "all"), value)
    token = value.split(",")[0]
    assert info.value.line() == f"nvc-cli: {stage} error: {token}: only 'all' devices are currently supported"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300, database=None)
@given(st.text(alphabet="0123456789abcdefxABGPUMI-:., +\t", max_size=24))
def test_any_token_selects_or_is_unknown(dgx, spec):
    try:
        selection = select_devices(dgx, spec)
    except DeviceError as exc:
        assert exc.message.endswith(": unknown device")
        return
    for mig in selection.migs:
        assert dgx.gpus[mig.parent_index] in selection.gpus
    assert len(set(selection.gpus)) == len(selection.gpus)
