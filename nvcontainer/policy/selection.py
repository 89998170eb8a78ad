"""Device selection: turn ``--device`` / ``--mig-config`` / ``--mig-monitor`` strings into GPUs and MIGs.

This is the original's ``select_devices`` (src/cli/common.c), token by token, including the
``sscanf``/``strtoumax`` leniency it inherits from C.  Pure: it only reads a ``Driver`` snapshot.

Order: selected devices keep the order in which the tokens selected them (the original appends to
an array, and ``list``/``configure`` walk that array), so ``--device=1,0`` yields GPU 1 then GPU 0;
``all`` yields every GPU in index order followed by every MIG in enumeration order.
"""

from __future__ import annotations

from nvcontainer.driver import Driver, Gpu, MigDevice
from nvcontainer.errors import DeviceError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple, Union
    DeviceSpec = Union[str, Sequence[str], None]

_ULONG_MAX = 2**64 - 1
_UINT_MASK = 2**32 - 1
_C_SPACE = " \t\n\v\f\r"
_HEX_DIGITS = "0123456789abcdefABCDEF"
_DEC_DIGITS = "0123456789"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Selection(Record):
    """The GPUs and MIG devices a container gets; ``all`` is true when the token ``all`` was used."""

    gpus: Tuple[Gpu, ...] = ()
    migs: Tuple[MigDevice, ...] = ()
    all: bool = False

    @property
    def empty(self) -> bool:
        return not self.gpus and not self.migs


class MigCapsSelection(Record):
    """Result of ``--mig-config=``/``--mig-monitor=``: ``all`` when requested, and the MIG-capable
    GPUs it covers."""

    gpus: Tuple[Gpu, ...] = ()
    all: bool = False


def _ascii_lower(text: str) -> str:
    # strcasecmp() folds ASCII only; str.lower() would also fold e.g. the Kelvin sign to "k".
    return text.translate(_ASCII_LOWER)


def _join_spec(spec: DeviceSpec) -> str:
    """Repeated ``--device`` options are comma-joined by the original before parsing."""
    if spec is None:
        return ""
    if isinstance(spec, str):
        return spec
    return ",".join(spec)


def _strtoul(text: str, negative: bool, base: int) -> int:
    """The value glibc's strtoul/strtoumax gives for ``[sign]digits`` (overflow saturates).

    Digits beyond what 64 bits hold saturate without ``int()`` ever seeing them (it refuses strings
    of thousands of digits)."""
    if len(text.lstrip("0")) > (16 if base == 16 else 20):
        return _ULONG_MAX
    magnitude = int(text.lstrip("0") or "0", base)
    if magnitude > _ULONG_MAX:
        return _ULONG_MAX
    return (-magnitude) % (2**64) if negative else magnitude


def _scan_unsigned(text: str, pos: int, base: int, width: Optional[int]) -> Optional[Tuple[int, int]]:
    """One glibc ``%x``/``%lu`` conversion at ``pos``: ``(value, new_pos)`` or None on failure.

    Leading whitespace is skipped and not counted in ``width``; the sign and a ``0x`` prefix are.
    """
    n = len(text)
    while pos < n and text[pos] in _C_SPACE:
        pos += 1
    left = -1 if width is None else width
    negative = False
    if left != 0 and pos < n and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
        left -= 1
    digits = ""
    if base == 16 and left != 0 and pos < n and text[pos] == "0":
        # glibc keeps the "0" as a digit, then swallows an "x" even when no hex digit follows.
        digits = "0"
        pos += 1
        left -= 1
        if left != 0 and pos < n and text[pos] in "xX":
            pos += 1
            left -= 1
    valid = _HEX_DIGITS if base == 16 else _DEC_DIGITS
    while left != 0 and pos < n and text[pos] in valid:
        digits += text[pos]
        pos += 1
        left -= 1
    if not digits:
        return None
    return _strtoul(digits, negative, base), pos


def _scan(text: str, fields: Sequence[Tuple[int, Optional[int]]]) -> List[int]:
    """``sscanf`` for formats of ``:``-separated numeric conversions: the values assigned.

    ``fields`` are ``(base, width)`` per conversion.  Like sscanf, scanning stops at the first
    mismatch and trailing input is ignored, so callers compare ``len(result)`` to the count wanted.
    """
    values: List[int] = []
    pos = 0
    for i, (base, width) in enumerate(fields):
        if i > 0:
            if pos >= len(text) or text[pos] != ":":
                break
            pos += 1
        scanned = _scan_unsigned(text, pos, base, width)
        if scanned is None:
            break
        value, pos = scanned
        values.append(value)
    return values


def normalize_bus_id(token: str) -> Optional[str]:
    """``sscanf(token, "%x:%02x:%02x.0")`` reformatted as ``"%08x:%02x:%02x.0"``, or None.

    Matches the original's leniency: the domain is mandatory, the bus and device fields read at most
    two characters each, and whatever follows the third field (".0", ".7", nothing) is ignored.
    """
    values = _scan(token, ((16, None), (16, 2), (16, 2)))
    if len(values) != 3:
        return None
    domain, bus, device = (v & _UINT_MASK for v in values)
    return f"{domain:08x}:{bus:02x}:{device:02x}.0"


def _parse_index(token: str) -> Optional[int]:
    """``strtoumax(token, &end, 10)`` when it consumes the whole token and is not UINTMAX_MAX."""
    scanned = _scan_unsigned(token, 0, 10, None)
    if scanned is None:
        return None
    value, pos = scanned
    if pos != len(token) or value == _ULONG_MAX:
        return None
    return value


def _find_gpu(driver: Driver, token: str) -> Optional[Gpu]:
    folded = _ascii_lower(token)
    if folded.startswith("gpu-") and len(token) > 4:
        for gpu in driver.gpus:
            if len(gpu.uuid) == len(token) and _ascii_lower(gpu.uuid) == folded:
                return gpu
    bus_id = normalize_bus_id(token)
    if bus_id is not None:
        for gpu in driver.gpus:
            if _ascii_lower(gpu.bus_id).startswith(bus_id):
                return gpu
    index = _parse_index(token)
    if index is not None and index < len(driver.gpus):
        return driver.gpus[index]
    return None


def _find_mig(driver: Driver, token: str) -> Optional[MigDevice]:
    folded = _ascii_lower(token)
    if folded.startswith("mig-") and len(token) > 4:
        for gpu in driver.gpus:
            for mig in gpu.migs:
                if len(mig.uuid) == len(token) and _ascii_lower(mig.uuid) == folded:
                    return mig
    values = _scan(token, ((10, None), (10, None)))
    if len(values) == 2:
        gpu_index, mig_index = values
        if gpu_index < len(driver.gpus) and mig_index < len(driver.gpus[gpu_index].migs):
            return driver.gpus[gpu_index].migs[mig_index]
    return None


def _parent_of(driver: Driver, mig: MigDevice) -> Gpu:
    for gpu in driver.gpus:
        if gpu.index == mig.parent_index:
            return gpu
    return driver.gpus[mig.parent_index]


def select_devices(driver: Driver, spec: DeviceSpec) -> Selection:
    """Select devices from a ``--device`` value (or the list of repeated values).

    Raises ``DeviceError("<token>: unknown device")`` for the first token nothing matches.  On a
    host without GPUs nothing is parsed at all (the original skips selection there), so any
    spec yields an empty selection.
    """
    if not driver.gpus:
        return Selection()
    gpus: List[Gpu] = []
    migs: List[MigDevice] = []
    for token in _join_spec(spec).split(","):
        if not token:
            continue
        if _ascii_lower(token) == "all":
            gpus.extend(g for g in driver.gpus if g not in gpus)
            migs.extend(m for m in driver.migs if m not in migs)
            return Selection(tuple(gpus), tuple(migs), True)
        found_gpu = _find_gpu(driver, token)
        if found_gpu is not None:
            if found_gpu not in gpus:
                gpus.append(found_gpu)
            continue
        found_mig = _find_mig(driver, token)
        if found_mig is not None:
            if found_mig not in migs:
                migs.append(found_mig)
            parent = _parent_of(driver, found_mig)
            if parent not in gpus:
                gpus.append(parent)
            continue
        raise DeviceError(f"{token}: unknown device")
    return Selection(tuple(gpus), tuple(migs), False)


def _select_mig_caps(selection: Selection, value: DeviceSpec, stage: str) -> MigCapsSelection:
    for token in _join_spec(value).split(","):
        if not token:
            continue
        if _ascii_lower(token) != "all":
            raise DeviceError(f"{token}: only 'all' devices are currently supported", stage=stage)
        if not selection.all and selection.migs:
            raise DeviceError(f"{token}: cannot enable {stage} with specific MIG devices selected", stage=stage)
        chosen: List[Gpu] = []
        candidates = list(selection.gpus) + [
            gpu for mig in selection.migs for gpu in selection.gpus if gpu.index == mig.parent_index
        ]
        for gpu in candidates:
            if gpu.mig_capable and gpu not in chosen:
                chosen.append(gpu)
        return MigCapsSelection(tuple(chosen), True)
    return MigCapsSelection()


def mig_config_gpus(selection: Selection, value: DeviceSpec) -> MigCapsSelection:
    """``--mig-config=all``: the MIG-capable GPUs among the selected ones (selection order).

    MIG-capable, as the original: a GPU whose MIG mode NVML answers (every A100 or H100), MIG mode
    on or off, since the config capability is what lets a container turn MIG mode on.

    Only ``all`` is accepted; errors carry stage ``mig-config``.  ``all`` is refused when specific
    MIG devices were selected (not via ``--device=all``).  A value of None or only commas means the
    option was not used: ``all`` is False, and MIG access caps are mounted as usual.
    """
    return _select_mig_caps(selection, value, "mig-config")


def mig_monitor_gpus(selection: Selection, value: DeviceSpec) -> MigCapsSelection:
    """``--mig-monitor=all``: as ``mig_config_gpus``, with stage ``mig-monitor``."""
    return _select_mig_caps(selection, value, "mig-monitor")
