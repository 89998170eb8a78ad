"""docs/cli-reference.md is generated from the programs; it must match what they accept today."""

from __future__ import annotations

from pathlib import Path

from cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli-reference.md"


def test_cli_reference_is_in_sync() -> None:
    assert DOC.read_text() == render(), "regenerate with: python -m cli.reference > docs/cli-reference.md"


def test_every_command_is_documented() -> None:
    text = DOC.read_text()
    for command in ("nvc-cli info", "nvc-cli list", "nvc-cli configure"):
        assert f"### `{command}`" in text
