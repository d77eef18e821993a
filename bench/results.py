"""What every benchmark reports: figures beside their baselines, one table, one JSON file.

A benchmark module has `async def measure(scale: Scale) -> list[Figure]`. `make bench` runs
them at full size; `BENCH_SCALE=small` runs the same code on small numbers (make test does,
so the harness never rots). The figures go to `bench/out/results.json` (or `BENCH_OUT`) as
`{"<name>": {"value", "baseline", "ratio", "unit", "note"}}`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent / "out" / "results.json"


@dataclass(frozen=True)
class Scale:
    """How big a run is: `full` (the issue's numbers) or `small` (a quick check)."""

    name: str

    @property
    def small(self) -> bool:
        return self.name == "small"

    def pick(self, full: int, small: int) -> int:
        return small if self.small else full


def scale_from_env() -> Scale:
    name = os.environ.get("BENCH_SCALE", "full")
    if name not in ("full", "small"):
        raise SystemExit(f"BENCH_SCALE must be full or small, not {name!r}")
    return Scale(name)


@dataclass
class Figure:
    """One measured figure. `baseline` is what the same work costs without duely, measured in
    the same run (None when there is no such thing: the note says what bounds the figure)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict:
        ratio = self.ratio
        return {
            "value": round(self.value, 4),
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "ratio": None if ratio is None else round(ratio, 3),
            "unit": self.unit,
            "note": self.note,
        }


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def table(figures: list[Figure]) -> str:
    """The figures as a plain-text table, notes under their rows."""
    rows = [("figure", "duely", "baseline", "ratio")]
    for figure in figures:
        ratio = figure.ratio
        rows.append(
            (
                figure.name,
                _number(figure.value, figure.unit),
                _number(figure.baseline, figure.unit),
                "-" if ratio is None else f"{ratio:.2f}x",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
        elif figures[index - 1].note:
            lines.append(f"    {figures[index - 1].note}")
    return "\n".join(lines)


def write(figures: list[Figure], path: Path | None = None) -> Path:
    """The figures as `results.json`; a figure of the same name measured earlier is replaced,
    others kept, so one benchmark can be run alone (`python -m bench sync`)."""
    target = path or Path(os.environ.get("BENCH_OUT") or DEFAULT_OUT)
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(target.read_text()) if target.exists() else {}
    kept.update({figure.name: figure.as_json() for figure in figures})
    target.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    return target
