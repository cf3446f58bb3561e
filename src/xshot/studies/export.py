"""Export a results store's DataFrame as CSV, JSON (records) or Parquet, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from xshot.errors import XshotError
from xshot.io import atomic_open

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMATS = ("csv", "json", "parquet")


def render(df: "pd.DataFrame", fmt: str) -> bytes:
    """The bytes of ``df`` in ``fmt``."""
    if fmt == "csv":
        return df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if fmt == "json":
        text = df.to_json(orient="records", indent=2, force_ascii=False, date_format="iso")
        return (text + "\n").encode("utf-8")
    if fmt == "parquet":
        buf = io.BytesIO()
        try:
            df.to_parquet(buf, index=False)
        except ImportError as err:  # pragma: no cover - pyarrow is a dependency
            raise XshotError(f"parquet export needs pyarrow: {err}") from None
        return buf.getvalue()
    raise XshotError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def export(df: "pd.DataFrame", fmt: str, out: str | Path | None = None) -> bytes | None:
    """Write ``df`` to ``out`` atomically (returns None), or return its bytes when ``out`` is None."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise XshotError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if out is None and fmt == "parquet":
        raise XshotError("--format parquet writes binary: give --out FILE")
    data = render(df, fmt)
    if out is None:
        return data
    with atomic_open(out, "wb") as f:
        f.write(data)
    return None
