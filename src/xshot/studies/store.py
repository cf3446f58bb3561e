"""The results store: one SQLite file (WAL mode), one row per (cell, evaluation set).

A cell's rows are replaced in a single transaction, so a study killed at any moment (``kill -9``
included) leaves every cell either fully recorded or absent, never half-written. A cell that failed
has exactly one row, with ``status = 'failed'``, its error and an empty ``eval_set``; rerunning a
study retries it (the retry replaces that row).

Several processes may run one study on one store: each **claims** a cell before running it (a row of the
``claims`` table: owner, host, pid, lease expiry; taken in a write transaction, so two processes never hold
one cell), renews its claim while the cell runs, and drops it in the transaction that records the cell. A
claim is another process's while its lease runs and, on this host, its process lives: a claim of a killed
process is taken over at once on the same host, after its lease elsewhere (a shared disk).
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

from xshot.errors import XshotError
from xshot.provenance import versions
from xshot.results import CellOutcome, Evaluation, RunResult, normalize_precision
from xshot.data.spec import spec_language

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from xshot.studies.grid import Cell

SCHEMA_VERSION = 1
CLAIMS_TABLE = ("CREATE TABLE IF NOT EXISTS claims (cell TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, "
                "pid INTEGER NOT NULL, expires REAL NOT NULL)")
FAILED_EVAL_SET = ""  # the eval_set of a failed cell's single row

@dataclass(frozen=True)
class StoreColumn:
    """One column of the store: its SQL declaration, where the results DataFrame (and the exported CSV) puts
    it, and its type there."""

    name: str
    sql: str
    frame: Literal["lead", "tail", None]  # lead, then score_/ci_low_/ci_high_<metric>, then tail; None: not a column
    kind: Literal["text", "int", "float"] = "text"  # text: kept as stored (JSON, strings, REALs not converted)
    required: bool = False  # a report refuses results (a store or an exported CSV) without it


def _col(name: str, sql: str, frame: Literal["lead", "tail", None], kind: Literal["text", "int", "float"] = "text"):
    return StoreColumn(name, sql, frame, kind)


def _key(name: str, sql: str, kind: Literal["text", "int", "float"] = "text") -> StoreColumn:
    """A leading column that every report needs."""
    return StoreColumn(name, sql, "lead", kind, required=True)


#: the one column specification: the table (in this order, for new stores), the DataFrame's columns and types
SPEC: tuple[StoreColumn, ...] = (
    _key("cell", "TEXT NOT NULL"),
    _col("study", "TEXT", "lead"),
    _key("status", "TEXT NOT NULL CHECK (status IN ('done', 'failed'))"),
    _col("error", "TEXT", "lead"),
    _key("task", "TEXT"),
    _key("model", "TEXT"),
    _key("method", "TEXT"),
    _col("train", "TEXT", "lead"),
    _key("source_language", "TEXT"),
    _key("k", "INTEGER", "int"),
    _key("seed", "INTEGER", "int"),
    _key("eval_set", "TEXT NOT NULL"),
    _key("language", "TEXT"),
    _col("primary_metric", "TEXT", "lead"),
    _key("score", "REAL", "float"),
    _col("ci_low", "REAL", "lead", "float"),
    _col("ci_high", "REAL", "lead", "float"),
    _col("train_s", "REAL", "tail", "float"),
    _col("eval_s", "REAL", "tail", "float"),  # this evaluation set's evaluation time
    _col("peak_memory_mb", "REAL", "tail", "float"),
    _col("trainable_params", "INTEGER", "tail", "int"),
    _col("total_params", "INTEGER", "tail", "int"),
    _col("fertility", "REAL", "tail", "float"),
    _col("versions", "TEXT", "tail"),  # JSON
    _col("created_at", "TEXT", "tail"),
    _col("setting", "TEXT", "tail"),
    _col("target_train", "TEXT", "tail"),
    _col("target_k", "INTEGER", "tail", "int"),
    _col("n", "INTEGER", "tail", "int"),
    _col("load_s", "REAL", "tail", "float"),
    _col("cell_eval_s", "REAL", "tail", "float"),  # the whole cell's evaluation time
    _col("wall_s", "REAL", "tail", "float"),  # the cell's wall-clock time as the executor saw it
    _col("config", "TEXT", "tail"),  # JSON RunConfig.model_dump()
    _col("method_config", "TEXT", "tail"),  # JSON
    _col("notes", "TEXT", "tail"),  # JSON list
    _col("precision", "TEXT", "tail"),  # bf16 | fp16 | fp32: results at different precisions are different results
    _col("threads", "INTEGER", "tail", "int"),  # intra-op CPU threads of the cell
    _col("processor", "TEXT", "tail"),  # the CPU or GPU the cell ran on (hardware.processor_name)
    _col("traceback", "TEXT", "tail"),
    _col("choose_s", "REAL", "tail"),  # choosing from the shots before training (label search and its folds)
    _col("choices", "TEXT", "tail"),  # JSON list of what the method chose from the shots (results.ShotChoice)
    _col("train_flops", "REAL", "tail"),  # estimated training compute (results.Compute)
    _col("study_sha256", "TEXT", "tail"),  # the study file's SHA-256 when the cell ran (pre-registration)
    _col("scores", "TEXT", None),  # JSON {metric: value}: the DataFrame's score_<metric> columns
    _col("ci", "TEXT", None),  # JSON {metric: [low, high]}: its ci_low_/ci_high_<metric> columns
    _col("recorded_at", "REAL", None),  # time.time() when recorded (claims: recorded by another process since)
)
COLUMNS: dict[str, str] = {c.name: c.sql for c in SPEC}
#: the DataFrame's leading columns (the report reads these names), then score_/ci_low_/ci_high_<metric>, then the tail
FRAME_COLUMNS = [c.name for c in SPEC if c.frame == "lead"]
FRAME_TAIL = [c.name for c in SPEC if c.frame == "tail"]
_INT_COLUMNS = tuple(c.name for c in SPEC if c.frame and c.kind == "int")
_FLOAT_COLUMNS = tuple(c.name for c in SPEC if c.frame and c.kind == "float")
#: the columns a report cannot do without; every other frame column is optional (missing = NaN)
REQUIRED_COLUMNS = tuple(c.name for c in SPEC if c.required)
OPTIONAL_COLUMNS = tuple(c.name for c in SPEC if c.frame and not c.required)
NUMERIC_COLUMNS = _INT_COLUMNS + _FLOAT_COLUMNS


class Claim(str, Enum):
    """What :meth:`ResultsStore.claim` found."""

    TAKEN = "taken"  # this process holds the cell now
    HELD = "held"  # a live claim of another process
    RECORDED = "recorded"  # recorded since this process started (by another one): nothing to run


@dataclass(frozen=True)
class Owner:
    """A process running cells of a store (``id`` is unique per process and run)."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _float(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@functools.lru_cache(maxsize=1)
def driver_versions() -> dict[str, str]:
    """Library versions, read from package metadata (no heavy imports)."""
    return versions()


def rows_from_outcome(cell: "Cell", outcome: CellOutcome) -> list[dict[str, Any]]:
    """The store rows of one finished cell: one per evaluation set, or the failed cell's single row."""
    base = _cell_columns(cell, outcome)
    m = outcome.result
    if m is None:
        return [{**base, "eval_set": FAILED_EVAL_SET, "status": "failed",
                 "error": str(outcome.error or "unknown error"), "traceback": outcome.traceback,
                 "versions": json.dumps(outcome.versions or driver_versions(), sort_keys=True)}]
    base.update(_run_columns(m), source_language=m.source_language or base["source_language"])
    return [{**base, **_evaluation_columns(m, name, ev)} for name, ev in m.evaluations.items()]


def _cell_columns(cell: "Cell", outcome: CellOutcome) -> dict[str, Any]:
    """What the study planned: the cell's identity and configuration (a failed cell's row has these too)."""
    cfg = cell.config
    return {
        "cell": cell.key, "study": cell.study, "study_sha256": cell.study_sha256, "setting": cell.setting,
        "task": cfg.task, "model": cfg.model, "method": cfg.method, "train": cfg.train, "k": cfg.k,
        "seed": cfg.seed, "target_train": cfg.target_train, "target_k": cfg.target_k,
        "source_language": spec_language(cfg.train),
        "config": json.dumps(cfg.model_dump(mode="json"), sort_keys=True),
        "wall_s": _float(outcome.wall_s), "created_at": _now(), "recorded_at": time.time(),
    }


def _run_columns(m: RunResult) -> dict[str, Any]:
    """What the run measured once for all its evaluation sets: timing, compute, memory, precision, provenance."""
    return {
        "status": "done", "primary_metric": m.primary_metric,
        "train_s": _float(m.time.train_s), "choose_s": _float(m.time.choose_s), "load_s": _float(m.time.load_s),
        "cell_eval_s": _float(m.time.eval_s), "train_flops": _float(m.compute.train_flops),
        "choices": json.dumps([c.model_dump(mode="json") for c in m.choices], ensure_ascii=False),
        "peak_memory_mb": _float(m.peak_memory_mb), "precision": normalize_precision(m.precision),
        "threads": m.threads, "processor": m.processor,
        "trainable_params": m.params.trainable, "total_params": m.params.total,
        "versions": json.dumps(m.versions, sort_keys=True),
        "method_config": json.dumps(m.method_config, sort_keys=True, default=str),
        "notes": json.dumps(m.notes, default=str),
    }


def _evaluation_columns(m: RunResult, name: str, ev: Evaluation) -> dict[str, Any]:
    """One evaluation set's row: its scores, interval, size, time, fertility and notes."""
    scores = {k: f for k, v in ev.flat_scores().items() if (f := _float(v)) is not None}
    ci = {k: [_float(lo), _float(hi)] for k, (lo, hi) in ev.ci.items()}
    low, high = ci.get(m.primary_metric, [None, None])
    eval_s = _float(ev.eval_s)
    if eval_s is None and m.time.eval_s is not None:
        eval_s = m.time.eval_s / len(m.evaluations)
    return {
        "eval_set": ev.spec or name, "language": ev.language or spec_language(ev.spec or name),
        "score": scores.get(m.primary_metric), "ci_low": low, "ci_high": high, "n": ev.n,
        "scores": json.dumps(scores, sort_keys=True), "ci": json.dumps(ci, sort_keys=True), "eval_s": eval_s,
        "fertility": _float(ev.fertility),
        # the run's notes, then this evaluation's (label policy, demonstrations shown, calibration)
        "notes": json.dumps([*m.notes, *ev.notes], default=str),
    }


#: times a store is opened before "database is locked" is an error: switching a new store to WAL, or reading it
#: while another process does, can fail at once without waiting for the lock (SQLite returns SQLITE_BUSY without
#: its busy handler where waiting could deadlock); two processes started together on a new store hit it
OPEN_ATTEMPTS = 6


class ResultsStore:
    """An embedded SQLite results store (safe to kill at any moment; see the module docstring)."""

    def __init__(self, path: str | Path, create: bool = True, timeout: float = 60.0):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise XshotError("no such results store", self.path)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self._open(create, timeout)
                return
            except sqlite3.OperationalError as err:  # see OPEN_ATTEMPTS
                if getattr(self, "_db", None) is not None:
                    self._db.close()
                if "locked" not in str(err) or attempt == OPEN_ATTEMPTS - 1:
                    raise XshotError(f"not a results store: {err}", self.path) from None
                time.sleep(0.2 * (attempt + 1))
            except sqlite3.DatabaseError as err:
                raise XshotError(f"not a results store: {err}", self.path) from None

    def _open(self, create: bool, timeout: float) -> None:
        self._db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if create:
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._init_schema(create)

    # ------------------------------------------------------------------ schema
    def _init_schema(self, create: bool) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "results" in tables:
            if "claims" not in tables:  # a store written before claims
                self._db.execute(CLAIMS_TABLE)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(results)")}
            missing = [c for c in COLUMNS if c not in have]
            for col in missing:  # forward-compatible: add columns a newer xshot knows
                decl = COLUMNS[col].replace("NOT NULL", "").split("CHECK")[0]
                self._db.execute(f"ALTER TABLE results ADD COLUMN {col} {decl}")
            return
        if not create:
            raise XshotError("not a results store (no results table)", self.path)
        cols = ",\n  ".join(f"{name} {decl}" for name, decl in COLUMNS.items())
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS results (\n  {cols},\n  PRIMARY KEY (cell, eval_set)\n)")
            self._db.execute("CREATE INDEX IF NOT EXISTS results_study ON results (study)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(CLAIMS_TABLE)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ writing
    def record(self, cell: "Cell", outcome: CellOutcome) -> list[dict[str, Any]]:
        """Replace the cell's rows with those of ``outcome``, in one transaction. Returns the rows."""
        rows = rows_from_outcome(cell, outcome)
        self.write_rows(cell.key, rows)
        return rows

    def _begin(self) -> None:
        for attempt in range(5):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError:  # locked beyond busy_timeout by another writer
                if attempt == 4:
                    raise
                time.sleep(1.0 + attempt)

    def write_rows(self, cell_key: str, rows: Iterable[dict[str, Any]]) -> None:
        """Replace the cell's rows and drop its claim, in one transaction."""
        rows = list(rows)
        self._begin()
        try:
            self._db.execute("DELETE FROM results WHERE cell = ?", (cell_key,))
            for row in rows:
                self._insert_row(row)
            self._db.execute("DELETE FROM claims WHERE cell = ?", (cell_key,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def reuse(self, other: str | Path, cells: Iterable["Cell"]) -> list[str]:
        """Copy from another store the rows of the ``cells`` it finished and this one has not (the same key is
        the same resolved configuration, so a study may reuse another's cells instead of re-running them). The
        rows keep the study name and hash they were recorded with, so a report tells reused cells apart, and take
        this study's setting name (a label of its grouping: the configuration is the same). Returns the keys of
        the cells copied."""
        cells = list(cells)
        with ResultsStore(other, create=False) as source:
            theirs, ours = source.status_of(cells), self.status_of(cells)
            copied = []
            for cell in cells:
                if theirs[cell.key] != "done" or ours[cell.key] == "done":
                    continue
                keys = cell.stored_keys()
                marks = ", ".join("?" for _ in keys)
                rows = [dict(r) for r in source._db.execute(
                    f"SELECT * FROM results WHERE cell IN ({marks}) AND status = 'done' ORDER BY rowid", keys)]
                stored = rows[0]["cell"]
                self.write_rows(stored, [{**r, "setting": cell.setting} for r in rows if r["cell"] == stored])
                copied.append(stored)
        return copied

    # ------------------------------------------------------------------ claims (several processes, one store)
    def claim(self, cell: "Cell", owner: Owner, lease_s: float) -> Claim:
        """Take ``cell`` for ``owner`` unless another live process holds it or has recorded it since
        ``owner`` started (see the module docstring)."""
        keys = cell.stored_keys()
        marks = ", ".join("?" for _ in keys)
        self._begin()
        try:
            recorded = self._db.execute(f"SELECT 1 FROM results WHERE cell IN ({marks}) AND recorded_at >= ? LIMIT 1",
                                        (*keys, owner.started)).fetchone()
            held = self._db.execute("SELECT owner, host, pid, expires FROM claims WHERE cell = ?", (cell.key,)).fetchone()
            if recorded:
                outcome = Claim.RECORDED
            elif held and held["owner"] != owner.id and held["expires"] > time.time() and (
                    held["host"] != owner.host or _alive(held["pid"])):
                outcome = Claim.HELD
            else:
                self._db.execute("INSERT OR REPLACE INTO claims (cell, owner, host, pid, expires) VALUES (?, ?, ?, ?, ?)",
                                 (cell.key, owner.id, owner.host, owner.pid, time.time() + lease_s))
                outcome = Claim.TAKEN
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return outcome

    def renew(self, owner: Owner, lease_s: float) -> None:
        """Extend every claim ``owner`` holds by ``lease_s`` from now."""
        self._db.execute("UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + lease_s, owner.id))

    def release(self, owner: Owner) -> None:
        """Drop every claim ``owner`` holds (a run that stops leaves its unfinished cells to others at once)."""
        self._db.execute("DELETE FROM claims WHERE owner = ?", (owner.id,))

    def _insert_row(self, row: dict[str, Any]) -> None:
        names = [c for c in COLUMNS if c in row]
        self._db.execute(
            f"INSERT INTO results ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [row[c] for c in names],
        )

    # ------------------------------------------------------------------ reading
    def cell_status(self) -> dict[str, str]:
        """cell key -> 'done' (every row done) or 'failed'."""
        cur = self._db.execute(
            "SELECT cell, SUM(status != 'done') AS bad FROM results GROUP BY cell"
        )
        return {r["cell"]: ("failed" if r["bad"] else "done") for r in cur}

    def done_keys(self) -> set[str]:
        return {k for k, s in self.cell_status().items() if s == "done"}

    def cell_precisions(self) -> dict[str, str]:
        """cell key -> the precision its rows record (for cells keyed before ``auto`` was resolved)."""
        cur = self._db.execute("SELECT cell, MIN(precision) AS p FROM results GROUP BY cell")
        return {r["cell"]: normalize_precision(r["p"]) for r in cur if r["p"]}

    def status_of(self, cells: Iterable["Cell"]) -> dict[str, str]:
        """Each cell's key -> 'done' / 'failed' / 'pending', its rows under a legacy key included."""
        status, precisions = self.cell_status(), self.cell_precisions()
        done = {k for k, v in status.items() if v == "done"}
        out = {}
        for cell in cells:
            if cell.is_done(done, precisions):
                out[cell.key] = "done"
            else:
                out[cell.key] = status.get(cell.key, "pending")
        return out

    def rows(self, study: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM results"
        args: tuple[Any, ...] = ()
        if study is not None:
            sql += " WHERE study = ?"
            args = (study,)
        sql += " ORDER BY rowid"
        return [dict(r) for r in self._db.execute(sql, args)]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def to_dataframe(self, study: str | None = None) -> "pd.DataFrame":
        """One row per (cell, evaluation set); see :data:`FRAME_COLUMNS` and ``score_<metric>`` columns."""
        import pandas as pd

        records = []
        metric_names: list[str] = []
        for row in self.rows(study):
            rec = {c: row.get(c) for c in FRAME_COLUMNS + FRAME_TAIL}
            if rec["eval_set"] == FAILED_EVAL_SET:
                rec["eval_set"] = None
            scores = json.loads(row["scores"]) if row.get("scores") else {}
            ci = json.loads(row["ci"]) if row.get("ci") else {}
            for name in list(scores) + list(ci):
                if name not in metric_names:
                    metric_names.append(name)
            for name in scores:
                rec[f"score_{name}"] = scores[name]
            for name, (lo, hi) in ci.items():
                rec[f"ci_low_{name}"] = lo
                rec[f"ci_high_{name}"] = hi
            records.append(rec)
        metric_cols = []
        for name in sorted(metric_names):
            metric_cols += [f"score_{name}", f"ci_low_{name}", f"ci_high_{name}"]
        columns = FRAME_COLUMNS + metric_cols + FRAME_TAIL
        df = pd.DataFrame.from_records(records, columns=columns)
        for col in _INT_COLUMNS:
            df[col] = df[col].astype("Int64")
        for col in [*_FLOAT_COLUMNS, *metric_cols]:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        return df

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        try:
            self._db.close()
        except Exception:  # pragma: no cover
            pass

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
