"""``xshot run``, ``xshot plan`` and ``xshot results``: studies (grids of runs) and their results store."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from xshot.errors import XshotError


class Format(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _store_path(study, store: Optional[Path]) -> Path:
    if store is not None:
        return store
    if study.store:
        return Path(study.store)
    return Path("runs") / f"{study.name}.sqlite"


def _load(study_path: Path, models: Optional[list[str]]):
    from xshot.studies.grid import expand
    from xshot.studies.spec import load_study

    study = load_study(study_path)
    cells = expand(study, models=models or None)
    return study, cells


def _check_cells(cells, study_path: Path, data_root: Path | None) -> None:
    """Every device the cells name exists here and every dataset they read can be read, before the store is
    opened or anything loads (:mod:`xshot.studies.probe`; the Ray executor probes every node instead)."""
    from xshot.studies.probe import needs_of, problems

    found = problems(needs_of(cells, data_root, models=False))
    if found:
        raise XshotError(found[0], study_path)


def run_command(
    study_path: Path = typer.Argument(..., metavar="STUDY.yaml", help="The study file."),
    executor: str = typer.Option("local", "--executor", "-e", help="local: cells in order in this process; ray: cells as Ray tasks (xshot.studies.execute.EXECUTORS)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Results store (SQLite). Default: the study's 'store:', else runs/<study name>.sqlite."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip cells already done in the store. Failed cells are always retried."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Replace the study's models (repeatable)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Local data root (exported as XSHOT_DATA_ROOT to every cell)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Connect to this Ray cluster instead of starting a local instance."),
    ray_num_cpus: Optional[int] = typer.Option(None, "--ray-num-cpus", help="CPUs of the local Ray instance (default: all)."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Keep each cell's run output in DIR/<cell key>."),
    runner: Optional[str] = typer.Option(None, "--runner", help="The run function as module:function (default xshot.training.run:run)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the study's report to DIR when the run ends (as xshot report)."),
    track: Optional[Path] = typer.Option(None, "--track", help="Log every cell to TensorBoard event files in DIR (default: the study's 'tracking:')."),
    reuse: Optional[list[Path]] = typer.Option(None, "--reuse", help="Another study's store: copy the cells of this plan it finished (same keys, same configuration) instead of running them; the report says which (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a study: every cell (model x method x train set x K x seed) not yet done in the store."""
    from rich.console import Console

    from xshot.studies.execute import EXECUTORS, pending_cells, run_study
    from xshot.studies.store import ResultsStore

    EXECUTORS.get(executor)  # an unknown name fails before the study is read
    if data_root is not None and not data_root.is_dir():
        raise XshotError("--data-root is not a directory", data_root)
    study, cells = _load(study_path, model)
    store_path = _store_path(study, store)
    out = Console(highlight=False, soft_wrap=True)
    if executor == "local":  # Ray cells run on the cluster's machines, which may have devices and data this one lacks
        _check_cells(cells, study_path, data_root)
    elif runs_dir is None:
        out.print("ray: the cells' run directories (checkpoints, predictions) are not kept; pass --runs-dir DIR on "
                  "storage every node shares to keep them (the store keeps every result)")
    for other in reuse or []:
        if not other.is_file():
            raise XshotError("--reuse: results store not found", other)
    with ResultsStore(store_path) as results:
        for other in reuse or []:
            out.print(f"reused {len(results.reuse(other, cells))} finished cell(s) of this plan from {other}")
        todo, skipped = pending_cells(cells, results, resume)
        out.print(
            f"study {study.name}: {len(cells)} cells, {skipped} already done, {len(todo)} to run "
            f"({executor}) -> {store_path}"
        )
        result = run_study(
            cells,
            results,
            executor=executor,
            runner=runner,
            resume=resume,
            runs_dir=runs_dir,
            data_root=data_root,
            track_dir=track or (Path(study.tracking) if study.tracking else None),
            resources=study.resources,
            ray_address=ray_address,
            ray_num_cpus=ray_num_cpus,
            progress=not quiet,
        )
    out.print(
        f"study {study.name}: {result.done} done, {result.failed} failed, {result.skipped} skipped "
        f"(already done)" + (f", {result.elsewhere} run by another process" if result.elsewhere else "")
        + f" in {result.elapsed_s:.1f}s -> {store_path}"
    )
    if report is not None:
        from xshot.reporting import build_report, load_results

        html = build_report(load_results(store_path), report, study=study_path)
        out.print(f"report: {html.parent / 'report.md'} and {html}")
    if result.failed:
        out.print(f"{result.failed} cell(s) failed; rerun the same command to retry them (see the store's error column).")
        raise typer.Exit(1)


def plan_command(
    study_path: Path = typer.Argument(..., metavar="STUDY.yaml", help="The study file."),
    store: Optional[Path] = typer.Option(None, "--store", help="Results store to read status and timings from (default as for run)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Replace the study's models (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Count cells already done as free (as run does)."),
    executor: str = typer.Option("local", "--executor", "-e", help="The executor run will use: it sets the CPU threads per cell (local: the physical cores; ray: the study's resources.num_cpus)."),
    detect: Optional[float] = typer.Option(None, "--detect", metavar="POINTS", help="Also size the seeds: how many detect a difference of this many points (×100) with 80% power across the findings' Holm family, from the seed-level spread of --pilot."),
    pilot: Optional[Path] = typer.Option(None, "--pilot", metavar="STORE_OR_CSV", help="Pilot results for --detect (a store or an exported CSV; default: the study's own store)."),
) -> None:
    """Show a study's cells and an estimate of what they cost, without running anything."""
    from xshot.studies.execute import cell_threads
    from xshot.studies.plan import estimate, format_seconds
    from xshot.studies.store import ResultsStore

    study, cells = _load(study_path, model)
    threads = cell_threads(executor, study.resources)
    store_path = _store_path(study, store)
    status: dict[str, str] = {}
    rows: list[dict] = []
    if store_path.exists():
        with ResultsStore(store_path, create=False) as results:
            status = results.status_of(cells)
            rows = results.rows()
    plan = estimate(cells, status, rows, resume=resume, threads=threads, in_order=executor == "local")
    plan = {"study": study.name, "source": str(study_path), "store": str(store_path), **plan}
    if detect is not None:
        plan["power"] = _power(study, cells, plan, detect, pilot if pilot is not None else store_path)
    if as_json:
        sys.stdout.write(json.dumps(plan, indent=2) + "\n")
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"study {study.name}: {len(cells)} cells", show_lines=False)
    for col, just in (("#", "right"), ("setting", "left"), ("method", "left"), ("model", "left"), ("train", "left"),
                      ("k", "right"), ("target", "left"), ("seed", "right"), ("eval", "left"), ("steps", "right"),
                      ("status", "left"), ("est.", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in plan["cells"]:
        target = f"{c['target_train']} k={c['target_k'] if c['target_k'] is not None else 'all'}" if c["target_train"] else ""
        evals = c["eval"]
        eval_s = evals[0] if len(evals) == 1 else f"{len(evals)} sets"
        colour = {"done": "green", "failed": "red"}.get(c["status"], "")
        table.add_row(
            str(c["index"]), c["setting"], c["method"], Path(c["model"]).name or c["model"], c["train"],
            "all" if c["k"] is None else str(c["k"]), target, str(c["seed"]), eval_s, str(c["steps"]),
            f"[{colour}]{c['status']}[/{colour}]" if colour else c["status"], format_seconds(c["est_s"]),
        )
    console = Console(highlight=False, soft_wrap=False, width=max(160, Console().width))
    console.print(table)
    e = plan["estimate"]
    basis = (f"calibrated from {e['calibrated_from_cells']} finished cell(s) in {store_path}" if e["calibrated_from_cells"]
             else "default per-method timings (no finished cells to calibrate from)")
    console.print(
        f"{e['cells']} cells: {e['done']} done, {e['failed']} failed, {e['pending']} pending; "
        f"to run: {e['to_run']} cells, about {format_seconds(e['to_run_s'])} of compute "
        f"(whole study {format_seconds(e['total_s'])}) at {threads} CPU thread(s) per cell; {basis}."
    )
    if detect is not None:
        _print_power(console, plan["power"])


def _power(study, cells, plan: dict, effect: float, pilot: Path) -> dict:
    """The seeds to detect ``effect`` points (from the pilot's seed-level spread) and what they cost here."""
    from dataclasses import asdict

    from xshot.reporting.power import power_plan

    if not pilot.exists():
        raise XshotError("no pilot results to read a seed-level spread from: pass --pilot STORE_OR_CSV "
                         "(e.g. a committed results CSV of a smaller run of this study)", path=pilot)
    methods = list(dict.fromkeys(m.name for m in study.methods))
    comparisons = [tuple(c) for c in study.comparisons] if study.comparisons else None
    seeds_now = max(1, len({c.config.seed for c in cells}))
    power = power_plan(pilot, effect, comparisons, methods, family=study_family(cells, comparisons),
                       study_seeds=seeds_now)
    per_seed_s = plan["estimate"]["total_s"] / seeds_now
    return {**asdict(power), "pilot": str(pilot), "seeds_needed": power.seeds, "seeds_needed_upper": power.seeds_upper,
            "floor": power.floor, "study_seeds": seeds_now, "per_seed_s": round(per_seed_s, 1),
            "needed_s": None if power.seeds is None else round(per_seed_s * power.seeds, 1)}


def study_family(cells, comparisons: list[tuple[str, str]] | None) -> int | None:
    """The size of the Holm family the study's report will test: each named method pair in each table (task,
    model, setting, training set, K, target K) whose cells run both methods (None: the default pairs)."""
    if comparisons is None:
        return None
    tables: dict[tuple, set[str]] = {}
    for cell in cells:
        c = cell.config
        tables.setdefault((c.task, c.model, cell.setting, c.train, c.k, c.target_train, c.target_k), set()).add(c.method)
    return sum(a in methods and b in methods for methods in tables.values() for a, b in comparisons) or None


def _print_power(console, p: dict) -> None:
    from rich.table import Table

    from xshot.studies.plan import format_seconds

    table = Table(title=f"seeds to detect {p['effect']:g} points (80% power, Holm family of {p['family']}, "
                        f"level {p['alpha']:g}/{p['family']}), from {p['pilot']}")
    for col in ("comparison", "table", "pilot seeds", "pilot Δ", "sd per seed", "seeds needed", "sd 80% upper",
                "seeds needed (upper)", f"detectable with {p['study_seeds']} seeds"):
        table.add_column(col, justify="left" if col in ("comparison", "table") else "right")
    def seeds(n: int | None) -> str:
        return "beyond reach" if n is None else str(n)

    for c in p["comparisons"]:
        table.add_row(c["comparison"], c["table"], str(c["pilot_seeds"]), f"{c['delta']:+.1f}", f"{c['sd']:.2f}",
                      seeds(c["seeds"]), f"{c['sd_upper']:.2f}", seeds(c["seeds_upper"]),
                      "none (below the floor)" if c["detectable"] == float("inf") else f"{c['detectable']:.1f}")
    console.print(table)
    if p["seeds_needed"] is None:
        console.print(f"Some comparison cannot detect {p['effect']:g} points with any affordable number of seeds.")
        return
    console.print(
        f"{p['seeds_needed']} seeds detect {p['effect']:g} points in every comparison of the family (no comparison "
        f"can be significant with fewer than {p['floor']}); the study has {p['study_seeds']}. At about "
        f"{format_seconds(p['per_seed_s'])} per seed here, {p['seeds_needed']} seeds cost about "
        f"{format_seconds(p['needed_s'])}. The spreads are read from the pilot's seeds; if they are as large as "
        f"their 80% upper bounds, {p['seeds_needed_upper'] or 'more than 10,000'} seeds are needed.")


def results_command(
    store: Path = typer.Argument(..., metavar="STORE", help="A results store written by 'xshot run'."),
    fmt: Format = typer.Option(Format.csv, "--format", "-f", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here (atomically); default: standard output (csv, json)."),
    study: Optional[str] = typer.Option(None, "--study", help="Only this study's rows."),
) -> None:
    """Export a results store: one row per (cell, evaluation set)."""
    from xshot.studies.export import export
    from xshot.studies.store import ResultsStore

    with ResultsStore(store, create=False) as results:
        df = results.to_dataframe(study=study)
    data = export(df, fmt.value, out)
    if data is not None:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    else:
        print(f"wrote {len(df)} rows to {out}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("plan")(plan_command)
    app.command("results")(results_command)
