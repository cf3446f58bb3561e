"""Run a study's cells, locally (in order, in this process) or as Ray tasks, into a results store.

The runner is injected: ``runner`` is a callable ``run(config: RunConfig, out_dir=None)`` returning a
:class:`~xshot.results.RunResult` (or its JSON form), a ``"module:function"`` string that is imported where
the cell runs (what Ray workers need), or None for the real one, ``xshot.training.run:run``.

Both executors run every cell through :func:`execute_cell` and record it with
:meth:`ResultsStore.record`, so a study gives the same rows under both.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Union

from xshot.errors import Unavailable, XshotError
from xshot.registry import Registry
from xshot.seeding import seed_everything
from xshot.studies.grid import Cell
from xshot.studies.probe import Needs, needs_of, write_token
from xshot.studies.spec import Resources
from xshot.results import CellOutcome, RunResult
from xshot.studies.store import Claim, Owner, ResultsStore, driver_versions

DEFAULT_RUNNER = "xshot.training.run:run"
#: a Ray task whose worker dies (a lost node, the OOM killer) runs again up to this many times; a cell that
#: fails in xshot's own code returns its failure and is recorded once
RAY_RETRIES = 2
Runner = Union[str, Callable[..., Any], None]
_MAX_ERROR = 4000


# --------------------------------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------------------------------
def resolve_runner(runner: Runner) -> Callable[..., Any]:
    """The runner callable for ``runner`` (a callable, ``"module:function"``, or None for the default)."""
    if runner is None:
        runner = DEFAULT_RUNNER
    if callable(runner):
        return runner
    module_name, sep, attr = str(runner).partition(":")
    if not sep or not module_name or not attr:
        raise XshotError(f"runner {runner!r} is not of the form 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        what = "the training runner" if runner == DEFAULT_RUNNER else f"runner {runner!r}"
        raise XshotError(f"cannot import {what}: {err}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise XshotError(f"runner {runner!r}: {module_name} has no attribute {attr!r}") from None
    if not callable(obj):
        raise XshotError(f"runner {runner!r} is not callable")
    return obj


def _free_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover
            pass


def failure(err: BaseException, wall_s: float | None = None, tb: str | None = None) -> CellOutcome:
    message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    message = " ".join(message.split())  # one line
    return CellOutcome(None, wall_s, message[:_MAX_ERROR],
                       (tb or "".join(traceback.format_exception(type(err), err, err.__traceback__)))[-20000:],
                       getattr(err, "resource", None), driver_versions())


def execute_cell(runner: Runner, config: Any, out_dir: str | Path | None = None) -> CellOutcome:
    """Run one cell and return its outcome; any exception (MemoryError, CUDA OOM, XshotError...) is a failure.

    SystemExit and KeyboardInterrupt propagate: they stop the study, and the cell is simply not recorded.
    """
    from xshot.training.config import RunConfig

    if isinstance(config, dict):
        config = RunConfig.model_validate(config)
    start = time.perf_counter()
    try:
        fn = resolve_runner(runner)
        seed_everything(config.seed)
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        result = RunResult.parse(fn(config, out_dir=Path(out_dir) if out_dir is not None else None))
        if config.eval and not result.evaluations:
            raise RuntimeError("runner returned no evaluations")
        return CellOutcome(result, time.perf_counter() - start)
    except Exception as err:
        outcome = failure(err, time.perf_counter() - start, traceback.format_exc())
    # out of the except block the exception and its frames (and any tensors they hold) are released
    _free_memory()
    return outcome


# --------------------------------------------------------------------------------------------------
# running a study
# --------------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    """What :func:`run_study` did."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (cell key, error)
    elsewhere: int = 0  # recorded meanwhile by another process running the same store

    @property
    def ran(self) -> int:
        return self.done + self.failed


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Claims:
    """This process's claims on a store's cells (see :mod:`xshot.studies.store`): taken before a cell runs,
    renewed by a heartbeat thread (on its own connection) while cells run, released when the run stops."""

    store: ResultsStore
    owner: Owner = field(default_factory=Owner)
    lease_s: float = 120.0
    poll_s: float = 5.0  # how often to look again at cells other processes hold

    def take(self, cell: Cell) -> Claim:
        return self.store.claim(cell, self.owner, self.lease_s)

    def release(self) -> None:
        self.store.release(self.owner)

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            with ResultsStore(self.store.path, create=False) as own:
                while not stop.wait(self.lease_s / 4):
                    own.renew(self.owner, self.lease_s)

        thread = threading.Thread(target=beat, name="xshot-claims", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def pending_cells(cells: list[Cell], store: ResultsStore, resume: bool = True) -> tuple[list[Cell], int]:
    """The cells still to run (all of them without ``resume``; failed ones are always retried)."""
    if not resume:
        return list(cells), 0
    status = store.status_of(cells)
    todo = [c for c in cells if status[c.key] != "done"]
    return todo, len(cells) - len(todo)


def _describe(cell: Cell) -> str:
    c = cell.config
    parts = [cell.setting, c.method, Path(c.model).name or c.model, f"k={c.k if c.k is not None else 'all'}"]
    if c.target_train:
        parts.append(f"{c.target_train} k={c.target_k if c.target_k is not None else 'all'}")
    parts.append(f"seed={c.seed}")
    return " ".join(parts)


def _summary_line(cell: Cell, outcome: CellOutcome) -> str:
    took = f" ({outcome.wall_s:.1f}s)" if outcome.wall_s is not None else ""
    if outcome.result is None:
        return f"[red]failed[/red] {_describe(cell)}{took}: {outcome.error}"
    result = outcome.result
    primary = result.primary_metric
    scores = [s for s in result.primary_scores().values() if s is not None]
    mean = f" mean {primary} {sum(scores) / len(scores):.3f} over {len(scores)} sets" if scores else ""
    return f"[green]done[/green] {_describe(cell)}{took}{mean}"


class _Progress:
    """A rich progress bar over cells (or nothing)."""

    def __init__(self, total: int, enabled: bool, console: Any = None):
        self.enabled = enabled and total > 0
        self._progress = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]cells"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console or Console(stderr=True),
            )
            self._task = self._progress.add_task("", total=total)

    def __enter__(self) -> "_Progress":
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, cell: Cell) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=_describe(cell))

    def finish(self, cell: Cell, outcome: CellOutcome) -> None:
        if self._progress is not None:
            self._progress.console.print(_summary_line(cell, outcome), highlight=False, soft_wrap=True)
            self._progress.advance(self._task)

    def skip(self, cell: Cell) -> None:
        if self._progress is not None:
            self._progress.console.print(f"[dim]recorded by another process[/dim] {_describe(cell)}", highlight=False,
                                         soft_wrap=True)
            self._progress.advance(self._task)


def run_study(
    cells: list[Cell],
    store: ResultsStore,
    *,
    executor: str = "local",
    runner: Runner = None,
    resume: bool = True,
    runs_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    track_dir: str | Path | None = None,
    resources: Resources | None = None,
    ray_address: str | None = None,
    ray_num_cpus: int | None = None,
    progress: bool = True,
    console: Any = None,
    on_cell: Callable[[Cell, CellOutcome], None] | None = None,
    claims: Claims | None = None,
) -> StudyResult:
    """Run the cells not yet done in ``store`` and record each as it finishes.

    ``runner``: see the module docstring (the hook the real-runner integration test uses).
    ``runs_dir``: when given, each cell's runner output goes to ``runs_dir/<cell key>``.
    ``data_root``: exported as ``XSHOT_DATA_ROOT`` to the runner (locally and on Ray workers).
    ``track_dir``: exported as ``XSHOT_TRACK_DIR``: the runner logs each cell there (TensorBoard).
    ``claims``: how the local executor shares the store with other processes (default: a 120 s lease).
    """
    execute = EXECUTORS.get(executor)
    if runner is None or isinstance(runner, str):
        resolve_runner(runner)  # fail before anything runs if it cannot be imported here
    env: dict[str, str] = {}
    if data_root is not None:
        env["XSHOT_DATA_ROOT"] = str(Path(data_root).resolve())
    if track_dir is not None:  # read by the training runner (xshot.training.tracking)
        env["XSHOT_TRACK_DIR"] = str(Path(track_dir).resolve())
    todo, skipped = pending_cells(cells, store, resume)
    result = StudyResult(total=len(cells), skipped=skipped)
    start = time.perf_counter()

    def record(cell: Cell, outcome: CellOutcome) -> None:
        store.record(cell, outcome)
        if outcome.done:
            result.done += 1
        else:
            result.failed += 1
            result.failures.append((cell.key, str(outcome.error)))
        if on_cell is not None:
            on_cell(cell, outcome)

    def out_dir(cell: Cell) -> str | None:
        return str(Path(runs_dir).resolve() / cell.key) if runs_dir is not None else None

    def elsewhere(cell: Cell) -> None:
        result.elsewhere += 1
        bar.skip(cell)

    needs = None
    if executor == "ray" and todo:  # what every node must see, probed there before the first cell
        token = f"{os.getpid()}-{time.time()}" if runs_dir is not None else None
        if runs_dir is not None:
            write_token(Path(runs_dir).resolve(), token)
        needs = needs_of(todo, env.get("XSHOT_DATA_ROOT"), Path(runs_dir).resolve() if runs_dir else None, token)

    with _Progress(len(todo), progress, console) as bar:
        if todo:
            execute(todo, Execution(runner, env, out_dir, record, bar, resources or Resources(), ray_address,
                                    ray_num_cpus, claims or Claims(store), elsewhere, needs))
    result.elapsed_s = time.perf_counter() - start
    return result


@dataclass
class Execution:
    """What an executor gets besides the cells: how to run one, and what to do with its outcome."""

    runner: Runner
    env: dict[str, str]  # exported to the runner wherever it runs
    out_dir: Callable[[Cell], str | None]
    record: Callable[[Cell, CellOutcome], None]
    bar: _Progress
    resources: Resources  # what one cell asks of Ray
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    claims: Claims | None = None  # the local executor's claims on the store's cells
    elsewhere: Callable[[Cell], None] = lambda cell: None  # a cell another process recorded meanwhile
    needs: Needs | None = None  # what every Ray node must see (probed before the first cell)


def _run_local(todo: list[Cell], ex: Execution) -> None:
    """In order, in this process, each cell claimed first (other processes on the store take the others);
    cells another live process holds are looked at again until it records them or dies. An unavailable
    model or dataset fails the later cells needing it at once."""
    broken: dict[str, str] = {}  # resource → the error of the cell that found it unavailable
    claims = ex.claims
    assert claims is not None
    remaining = list(todo)
    with _environ(ex.env), claims.heartbeat():
        try:
            while remaining:
                held = []
                for cell in remaining:
                    status = claims.take(cell)
                    if status is Claim.TAKEN:
                        _run_one(cell, ex, broken)
                    elif status is Claim.RECORDED:
                        ex.elsewhere(cell)
                    else:
                        held.append(cell)
                remaining = held
                if remaining:
                    time.sleep(claims.poll_s)
        finally:
            claims.release()


def _run_one(cell: Cell, ex: Execution, broken: dict[str, str]) -> None:
    ex.bar.start(cell)
    known = next((r for r in cell.config.resources() if r in broken), None)
    if known is not None:  # pay for an unavailable model or dataset once, not per cell
        outcome = failure(Unavailable(f"{broken[known]} (found by an earlier cell)", known), 0.0, "")
    else:
        outcome = execute_cell(ex.runner, cell.config, ex.out_dir(cell))
        if outcome.unavailable:
            broken[outcome.unavailable] = str(outcome.error).removeprefix("Unavailable: ")
    ex.record(cell, outcome)
    ex.bar.finish(cell, outcome)


# --------------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------------
def _probe_task(needs: Needs, env: dict[str, str]) -> list[str]:
    """The body of a node's probe task: what the cells need that this node lacks."""
    from xshot.studies.probe import problems

    os.environ.update(env)
    return problems(needs)


def _probe_nodes(ray: Any, needs: Needs, env: dict[str, str]) -> None:
    """One probe task pinned to each live node; the first node that lacks something fails the study."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_probe_task)
    refs = {node["NodeManagerAddress"]: probe.options(
        num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(needs, env)
        for node in ray.nodes() if node.get("Alive")}
    for address, ref in refs.items():
        found = ray.get(ref)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise XshotError(f"Ray node {address}: {found[0]}{more}; no cell has run")


def _ray_cell(runner: Runner, config: dict[str, Any], out_dir: str | None, env: dict[str, str]) -> CellOutcome:
    """The body of one Ray task (module-level, so workers import it by reference)."""
    os.environ.update(env)
    return execute_cell(runner, config, out_dir)


def _run_ray(todo: list[Cell], ex: Execution) -> None:
    """As Ray tasks (a local instance, or the cluster at ``ray_address``), recorded as they finish."""
    import logging

    runner, env, out_dir, record, bar = ex.runner, ex.env, ex.out_dir, ex.record, ex.bar
    resources, address, num_cpus = ex.resources, ex.ray_address, ex.ray_num_cpus

    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a dependency
        raise XshotError(f"the ray executor needs ray: {err}") from None

    started = False
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address:
            init["address"] = address
        elif num_cpus is not None:
            init["num_cpus"] = num_cpus
        # Workers of a local instance inherit its environment: give them this process's import path,
        # so that a "module:function" runner importable here is importable there.
        path_env = {}
        if not address:
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            extra = os.environ.get("PYTHONPATH")
            path_env["PYTHONPATH"] = os.pathsep.join(paths + ([extra] if extra else []))
        try:
            with _environ(path_env):
                ray.init(**init)
        except Exception as err:
            raise XshotError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {err}") from None
        started = True
    refs: dict[Any, Cell] = {}
    try:
        num_gpus: float = resources.num_gpus if resources.num_gpus != "auto" else 0.0
        if resources.num_gpus == "auto" and ray.cluster_resources().get("GPU", 0) >= 1:
            num_gpus = 1.0
        options: dict[str, Any] = {"num_cpus": resources.num_cpus, "num_gpus": num_gpus, "max_retries": RAY_RETRIES}
        if resources.memory_gb:
            options["memory"] = int(resources.memory_gb * 1024**3)
        if started and not address:  # a local instance never grows: an unsatisfiable request would wait forever
            have = ray.cluster_resources()
            if resources.num_cpus > have.get("CPU", 0) or num_gpus > have.get("GPU", 0):
                raise XshotError(
                    f"each cell asks for {resources.num_cpus:g} CPU(s) and {num_gpus:g} GPU(s), but the local Ray "
                    f"instance has {have.get('CPU', 0):g} CPU(s) and {have.get('GPU', 0):g} GPU(s): lower the "
                    "study's resources: or raise --ray-num-cpus"
                )
        if ex.needs is not None:
            _probe_nodes(ray, ex.needs, env)
        task = ray.remote(_ray_cell).options(**options)
        for cell in todo:
            ref = task.remote(runner, cell.config.model_dump(mode="json"), out_dir(cell), env)
            refs[ref] = cell
        if todo:
            bar.start(todo[0])
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                cell = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as err:  # the worker died (killed, out of memory, ...)
                    outcome = failure(err)
                record(cell, outcome)
                bar.finish(cell, outcome)
    finally:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


#: how a study's cells are run (``xshot run --executor NAME``)
EXECUTORS: Registry[Callable[[list[Cell], Execution], None]] = Registry("executor")
EXECUTORS.add("local", _run_local)
EXECUTORS.add("ray", _run_ray)


def cell_threads(executor: str, resources: Resources) -> int:
    """CPU threads one cell runs with: the local executor's process uses the physical cores; a Ray task
    its ``num_cpus`` (Ray sets ``$OMP_NUM_THREADS`` to them, at least one)."""
    from xshot.hardware import default_threads

    EXECUTORS.get(executor)
    return max(1, int(resources.num_cpus)) if executor == "ray" else default_threads()
