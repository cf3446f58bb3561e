"""The SQLite results store: rows, the DataFrame's columns, failed cells, replacement, reopening."""

from __future__ import annotations

import json
import sqlite3

import pytest

import study_fake_runner
from xshot.errors import XshotError
from xshot.results import CellOutcome, RunResult
from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.studies.store import FRAME_COLUMNS, ResultsStore

REPORT_COLUMNS = [
    "cell", "study", "status", "error", "task", "model", "method", "train", "source_language", "k", "seed",
    "eval_set", "language", "primary_metric", "score", "ci_low", "ci_high", "train_s", "eval_s", "peak_memory_mb",
    "trainable_params", "total_params", "fertility", "versions", "created_at",
]


@pytest.fixture
def cells(make_study):
    return expand(load_study(make_study()))


def _done(cell, metrics=None):
    return CellOutcome(RunResult.parse(metrics or study_fake_runner.run(cell.config)), 1.5)


def test_round_trip_and_dataframe_columns(tmp_path, cells):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        for cell in cells[:3]:
            store.record(cell, _done(cell))
    with ResultsStore(path, create=False) as store:
        assert store.done_keys() == {c.key for c in cells[:3]}
        df = store.to_dataframe()
    assert len(df) == 6  # 3 cells x 2 eval sets
    for col in REPORT_COLUMNS:
        assert col in df.columns, col
    assert list(df.columns[: len(FRAME_COLUMNS)]) == FRAME_COLUMNS
    for metric in ("accuracy", "macro_f1"):
        for prefix in ("score_", "ci_low_", "ci_high_"):
            assert prefix + metric in df.columns
    row = df[(df.cell == cells[0].key) & (df.eval_set == "xnli:sw:test")].iloc[0]
    expected = study_fake_runner.run(cells[0].config)["evaluations"]["xnli:sw:test"]
    assert row.status == "done" and row.error is None
    assert (row.task, row.model, row.method, row.train, row.k, row.seed) == ("nli", "tiny-model", "finetune", "xnli:en:dev", 4, 1)
    assert (row.language, row.source_language, row.primary_metric) == ("sw", "en", "accuracy")
    assert row.score == pytest.approx(expected["scores"]["accuracy"])
    assert row.score_macro_f1 == pytest.approx(expected["scores"]["macro_f1"])
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(expected["ci"]["accuracy"]))
    assert row.ci_high_macro_f1 == pytest.approx(expected["ci"]["macro_f1"][1])
    assert row.fertility == pytest.approx(expected["fertility"])
    assert (row.train_s, row.eval_s, row.peak_memory_mb) == (1.0, 0.5, 512.0)
    assert (row.trainable_params, row.total_params, row.n) == (1008, 118_000_000, 50)
    assert (row.threads, row.processor) == (2, "Fake CPU (AVX2)")
    assert json.loads(row.versions) == {"torch": "fake", "xshot": "0.1.0"}
    assert json.loads(row.config)["max_steps"] == 5
    assert str(df["k"].dtype) == "Int64" and str(df["score"].dtype) == "float64"


def test_failed_cell_is_one_row_and_is_replaced_on_retry(tmp_path, cells):
    cell = cells[0]
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record(cell, CellOutcome(None, error="MemoryError: out of memory", traceback="tb"))
        assert store.cell_status() == {cell.key: "failed"}
        assert store.done_keys() == set()
        df = store.to_dataframe()
        assert len(df) == 1
        row = df.iloc[0]
        assert (row.status, row.error, row.method, row.k) == ("failed", "MemoryError: out of memory", "finetune", 4)
        assert row.eval_set is None and row.score != row.score  # NaN
        assert json.loads(row.versions)["python"]
        store.record(cell, _done(cell))
        assert store.cell_status() == {cell.key: "done"}
        assert store.count() == 2 and set(store.to_dataframe().status) == {"done"}


def test_rewriting_a_cell_never_duplicates(tmp_path, cells):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for _ in range(3):
            store.record(cells[0], _done(cells[0]))
        assert store.count() == 2


def test_write_is_one_transaction(tmp_path, cells, monkeypatch):
    """An error half-way through a cell's rows leaves the previous state untouched."""
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record(cells[0], CellOutcome(None, error="boom"))
        real = store._insert_row
        calls = []

        def flaky(row):
            calls.append(row)
            if len(calls) == 2:
                raise RuntimeError("disk on fire")
            real(row)

        monkeypatch.setattr(store, "_insert_row", flaky)
        with pytest.raises(RuntimeError):
            store.record(cells[0], _done(cells[0]))
        assert store.cell_status() == {cells[0].key: "failed"}
        assert store.count() == 1


def test_wal_mode_and_schema(tmp_path, cells):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    db.close()


def test_missing_and_bogus_stores(tmp_path):
    with pytest.raises(XshotError, match="no such results store"):
        ResultsStore(tmp_path / "nope.sqlite", create=False)
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("this is not a database" * 100)
    with pytest.raises(XshotError, match="not a results store"):
        ResultsStore(bogus, create=False)


def test_empty_store_dataframe_has_the_columns(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        df = store.to_dataframe()
    assert len(df) == 0
    assert all(col in df.columns for col in REPORT_COLUMNS)


def test_each_row_keeps_the_run_notes_and_its_evaluation_notes(tmp_path, cells):
    metrics = study_fake_runner.run(cells[0].config)
    metrics["notes"] = ["run note"]
    first, second = list(metrics["evaluations"])[:2]
    metrics["evaluations"][first]["notes"] = ["3 in-context demonstrations: ..."]
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record(cells[0], _done(cells[0], metrics))
        notes = {r["eval_set"]: json.loads(r["notes"]) for r in store.rows()}
    assert notes[first] == ["run note", "3 in-context demonstrations: ..."]
    assert notes[second] == ["run note"]


def test_a_store_locked_while_it_opens_is_opened_again(tmp_path, monkeypatch):
    """SQLite can answer "database is locked" at once (no busy wait) while another process switches a new store
    to WAL or reads it: opening retries, and other errors, or a lock that stays, are one-line errors."""
    from xshot.studies import store as store_module

    real, failures = ResultsStore._open, []

    def locked_twice(self, create, timeout):
        if len(failures) < 2:
            failures.append(1)
            raise sqlite3.OperationalError("database is locked")
        real(self, create, timeout)

    monkeypatch.setattr(store_module.time, "sleep", lambda s: None)
    monkeypatch.setattr(ResultsStore, "_open", locked_twice)
    with ResultsStore(tmp_path / "r.sqlite") as s:
        assert s._db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
    assert len(failures) == 2

    def always(message):
        def fail(self, create, timeout):
            raise sqlite3.OperationalError(message)
        return fail

    for message in ("database is locked", "disk I/O error"):
        monkeypatch.setattr(ResultsStore, "_open", always(message))
        with pytest.raises(XshotError, match=f"not a results store: {message}"):
            ResultsStore(tmp_path / "s.sqlite")
