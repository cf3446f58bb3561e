"""``xshot data stats`` and ``xshot data sample``: look at a dataset spec before training on it."""

from __future__ import annotations

import json
import sys

import typer

data_app = typer.Typer(help="Inspect datasets and draw few-shot samples.", no_args_is_help=True)

_SPEC_HELP = (
    "dataset spec: xnli:sw:test, masakhaner2:yor, conll:PATH, nli-tsv:PATH?premise=..., jsonl:PATH, hf:ID[:CONFIG]"
)
_ROOT_HELP = "local data root (default: $XSHOT_DATA_ROOT, else the Hugging Face Hub)"


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items())


@data_app.command("stats")
def stats(
    spec: str = typer.Argument(..., help=_SPEC_HELP),
    split: str | None = typer.Option(None, "--split", help="train, dev or test (a split in the spec wins)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="tokenizer path or id, for subword fertility"),
    data_root: str | None = typer.Option(None, "--data-root", help=_ROOT_HELP),
) -> None:
    """Examples, label counts (entity mentions for NER), words and subword fertility."""
    from xshot.data import load
    from xshot.data.stats import compute_stats, load_tokenizer

    dataset = load(spec, split, data_root)
    result = compute_stats(dataset, load_tokenizer(tokenizer) if tokenizer else None)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['name']} ({result['task']}, {result['language'] or 'language unknown'})")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("sentences" if result["task"] == "ner" else "examples", str(result["examples"]))
    table.add_row("words", str(result["tokens"]))
    if "fertility" in result:
        value = result["fertility"]
        table.add_row(f"subwords per word ({tokenizer})", "n/a (no spaces between words)" if value is None else f"{value:.3f}")
    for label, n in result["label_counts"].items():
        table.add_row(f"{label} mentions" if result["task"] == "ner" else label, str(n))
    Console().print(table)


@data_app.command("sample")
def sample(
    spec: str = typer.Argument(..., help=_SPEC_HELP),
    k: int = typer.Option(..., "--k", help="examples per class (NLI) or mentions per entity type (NER)"),
    seed: int = typer.Option(..., "--seed", help="random seed; the same seed gives the same bytes"),
    split: str = typer.Option("train", "--split", help="train, dev or test (a split in the spec wins)"),
    out: str | None = typer.Option(None, "--out", help="JSONL file to write (default: stdout)"),
    data_root: str | None = typer.Option(None, "--data-root", help=_ROOT_HELP),
) -> None:
    """Draw a seeded few-shot sample as JSONL, readable again as jsonl:FILE."""
    from xshot.data import load
    from xshot.data.sampling import sample_few_shot
    from xshot.io import write_jsonl

    shots = sample_few_shot(load(spec, split, data_root), k, seed)
    rows = [ex.to_json() for ex in shots.examples]
    if out:
        write_jsonl(out, rows)
    else:
        for row in rows:  # the format of xshot.io.write_jsonl
            sys.stdout.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    counts = shots.meta.get("mention_counts") or shots.meta["label_counts"]
    kind = "mentions" if shots.task == "ner" else "examples"
    print(f"{shots.name}: {len(shots)} examples (k={k}, seed={seed}); {kind}: {_counts_line(counts)}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
