"""Studies: a YAML grid of runs (models x methods x train sets x K x seeds), its results store and executors.

- :mod:`xshot.studies.spec` loads and validates a study file (``load_study``).
- :mod:`xshot.studies.grid` expands it into cells, one :class:`~xshot.training.config.RunConfig` each.
- :mod:`xshot.studies.store` is the SQLite results store (``ResultsStore``, ``.to_dataframe()``).
- :mod:`xshot.studies.execute` runs the cells locally or on Ray (``run_study``).
- :mod:`xshot.studies.plan` estimates the cost of a study without running it.

Only light modules are imported here; torch and ray are imported inside the functions that need them.
"""

from __future__ import annotations

from xshot.studies.grid import Cell, expand
from xshot.studies.spec import Study, load_study
from xshot.studies.store import ResultsStore

__all__ = ["Cell", "ResultsStore", "Study", "expand", "load_study", "run_study"]


def run_study(*args, **kwargs):
    """See :func:`xshot.studies.execute.run_study`."""
    from xshot.studies.execute import run_study as _run_study

    return _run_study(*args, **kwargs)
