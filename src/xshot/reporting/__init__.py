"""The study report: ``build_report(df, out_dir, study=None) -> Path`` (``xshot report``).

From the results DataFrame (``xshot.studies.store.ResultsStore(path).to_dataframe()``, or the
CSV ``xshot results`` exports) it writes to ``out_dir``:

- ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG);
- ``figures/*.png``: the same figures as files;
- ``results.csv`` (the input rows) and ``summary.csv`` (mean, std and 95% interval over seeds
  per table cell).

Sections: main tables (method × target language per task × model × training set × K, mean ±
std over seeds, best bold, † where the lead is not significant by a paired sign-flip test over
seeds), learning curves, per-language bars for low-resource languages, the transfer analysis
(gap to the source language vs URIEL distances and tokenizer fertility, Spearman's ρ per
method), the cost table and the failed cells.

Modules: :mod:`.report` (the entry point), :mod:`.frame` (input checks, preparation, groups),
:mod:`.sections` (one module per section, registered in order), :mod:`.format`, :mod:`.stats`,
:mod:`.uriel` (distances), :mod:`.languages` (codes, the high-resource list), :mod:`.figures`,
:mod:`.document` (rendering).
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_report", "load_results"]


def __getattr__(name: str) -> Any:  # lazy: keep `import xshot.reporting` free of matplotlib
    if name in __all__:
        import importlib

        module = importlib.import_module("xshot.reporting.report" if name == "build_report" else "xshot.reporting.frame")
        return getattr(module, name)
    raise AttributeError(f"module 'xshot.reporting' has no attribute {name!r}")
