"""``xshot train``, ``xshot eval`` and ``xshot predict``: one run, and using its model."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from xshot.methods import method_names

_SPECS_HELP = "comma-separated dataset specs, e.g. xnli:de,xnli:sw or masakhaner2:swa,wikiann:de"


def _options(pairs: list[str]) -> dict:
    """``key=value`` pairs; values are read as YAML so numbers, booleans and mappings work."""
    import yaml

    from xshot.errors import XshotError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise XshotError(f"--option {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or type(err).__name__
            raise XshotError(f"--option {key.strip()}: {value!r} is not a YAML value ({problem}); a text with "
                             f"braces or ': ' needs quotes inside the argument: -o '{key.strip()}=\"...\"'") from None
    return out


def run_config(values: dict, source: str | None = None, lines: dict | None = None):
    """Validate settings into a RunConfig; an error is one line naming the key (and its line in ``source``)."""
    from pydantic import ValidationError

    from xshot.errors import XshotError
    from xshot.training.config import RunConfig
    from xshot.yamlfile import line_of

    try:
        return RunConfig(**values)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        loc = tuple(first["loc"])
        line = line_of(lines, loc) if lines and loc[:1] in lines else None  # given in the file, not by a flag
        raise XshotError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}", source, line) from None


def check_method_options(cfg, source: str | None = None, lines: dict | None = None) -> None:
    """The method's options resolve into its config, before any model loads (errors name the file's line)."""
    from xshot.errors import XshotError
    from xshot.methods import get_method
    from xshot.training.prepare import method_config
    from xshot.yamlfile import line_of

    get_method(cfg.method)  # an unknown name lists the registered ones
    try:
        method_config(cfg)
    except XshotError as err:
        line = line_of(lines, ("options",)) if lines and ("options",) in lines else None
        raise XshotError(f"method {cfg.method!r}: {err.message}", source, line) from None


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of run settings (flags override it)"),
    task: Optional[str] = typer.Option(None, "--task", help="nli or ner"),
    model: Optional[str] = typer.Option(None, "--model", help="Hugging Face id or local model directory"),
    method: Optional[str] = typer.Option(None, "--method", help=f"one of: {', '.join(method_names())}"),
    train_spec: Optional[str] = typer.Option(None, "--train", help="training dataset spec, e.g. xnli:en:dev"),
    k: Optional[int] = typer.Option(None, "--k", help="shots per class (NLI) or mentions per type (NER); omit for all"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    eval_specs: Optional[str] = typer.Option(None, "--eval", help=_SPECS_HELP),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="stratified, seeded subset of each evaluation set"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    epochs: Optional[float] = typer.Option(None, "--epochs"),
    learning_rate: Optional[float] = typer.Option(None, "--lr"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="tokens per input (default 256)"),
    target_train: Optional[str] = typer.Option(None, "--target-train", help="target-language shots, after source training"),
    target_k: Optional[int] = typer.Option(None, "--target-k"),
    option: list[str] = typer.Option([], "--option", "-o", help="method option key=value (repeatable)"),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:1, mps"),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, fp32, bf16, fp16"),
    out: Optional[Path] = typer.Option(None, "--out", help="output directory (metrics.json, predictions/, model/)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="local data root (default: $XSHOT_DATA_ROOT)"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="allow model code from the checkpoint"),
    track: Optional[Path] = typer.Option(None, "--track", help="log the run to TensorBoard event files in this directory"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train one method on K shots and evaluate it on every --eval set (the model is trained once)."""
    from rich.console import Console

    from xshot.training.run import run
    from xshot.yamlfile import read_yaml_file

    _setup_logging(quiet)
    values, lines = read_yaml_file(config, "a run configuration (task, model, method, train, ...)") if config else ({}, {})
    flags = {"task": task, "model": model, "method": method, "train": train_spec, "k": k, "seed": seed,
             "eval_limit": eval_limit, "max_steps": max_steps, "epochs": epochs, "learning_rate": learning_rate,
             "batch_size": batch_size, "max_length": max_length, "target_train": target_train, "target_k": target_k, "device": device,
             "precision": precision}
    given = {key: v for key, v in flags.items() if v is not None}
    values.update(given)
    lines = {at: n for at, n in lines.items() if not at or at[0] not in given}
    if eval_specs:
        values["eval"] = [s.strip() for s in eval_specs.split(",") if s.strip()]
    if option:
        values["options"] = {**values.get("options", {}), **_options(option)}
    if trust_remote_code:
        values["trust_remote_code"] = True
    cfg = run_config(values, str(config) if config else None, lines)
    check_method_options(cfg, str(config) if config else None, lines)
    metrics = run(cfg, out, data_root=data_root, progress=not quiet, track=track)
    _print_scores(Console(stderr=quiet), metrics)


def _print_scores(console, result) -> None:
    from rich.table import Table

    primary, cfg = result.primary_metric, result.config
    table = Table(title=f"{cfg['method']} · {cfg['model']} · trained on {cfg['train']} (k={cfg['k']})")
    for col in ("evaluation set", "n", primary, "95% CI", "fertility"):
        table.add_column(col, justify="left" if col == "evaluation set" else "right")
    for spec, ev in result.evaluations.items():
        lo, hi = ev.ci.get(primary, (float("nan"), float("nan")))
        table.add_row(spec, str(ev.n), f"{ev.score(primary):.4f}", f"[{lo:.4f}, {hi:.4f}]",
                      "—" if ev.fertility is None else f"{ev.fertility:.2f}")
    console.print(table)
    t = result.time
    console.print(f"trainable {result.params.trainable:,} / {result.params.total:,} parameters · "
                  f"train {t.train_s:.1f}s · eval {t.eval_s:.1f}s · peak memory {result.peak_memory_mb:.0f} MiB")


def evaluate(
    model_dir: Path = typer.Option(..., "--model", help="a directory written by xshot train --out"),
    data: str = typer.Option(..., "--data", help=_SPECS_HELP),
    split: str = typer.Option("test", "--split"),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", min=1),
    out: Optional[Path] = typer.Option(None, "--out", help="write the scores as JSON"),
    data_root: Optional[str] = typer.Option(None, "--data-root"),
    device: str = typer.Option("auto", "--device", help="where to compute here: auto, cpu, cuda, cuda:1, mps"),
) -> None:
    """Score a trained model on more evaluation sets."""
    from xshot.backbone import select_device, select_precision
    from xshot.data.spec import check as check_dataset
    from xshot.io import write_json
    from xshot.training.checkpoint import load_model, read_manifest
    from xshot.training.evaluate import to_inference_precision
    from xshot.training.prepare import Runtime
    from xshot.training.run import evaluate_spec

    manifest = read_manifest(model_dir)
    where = select_device(device)  # this machine's device and the sets, checked before any weight loads
    specs = [s.strip() for s in data.split(",") if s.strip()]
    for spec in specs:
        check_dataset(spec, split, data_root)
    model, cfg = load_model(model_dir, data_root)
    mcfg = manifest.method()
    rt = Runtime(where, select_precision(where, cfg.precision), data_root, True)
    to_inference_precision(model, rt.dtype)
    shots_seen = {manifest.source_language}
    results = {spec: evaluate_spec(model, cfg, mcfg, spec, split, eval_limit, rt, shots_seen)[0]
               for spec in specs}
    if out:
        write_json(out, {spec: r.model_dump(mode="json") for spec, r in results.items()})
    print(json.dumps({spec: r.scores for spec, r in results.items()}, ensure_ascii=False, indent=1))


def predict_cmd(
    model_dir: Path = typer.Option(..., "--model", help="a directory written by xshot train --out"),
    input_file: Path = typer.Option(..., "--input", help="NER: one sentence per line or CoNLL; NLI: premise/hypothesis TSV"),
    out: Optional[Path] = typer.Option(None, "--out", help="JSONL output (default: stdout)"),
    device: str = typer.Option("auto", "--device", help="where to compute here: auto, cpu, cuda, cuda:1, mps"),
) -> None:
    """Label raw input with a trained model; one JSON object per example."""
    from xshot.backbone import select_device
    from xshot.inference import label, read_input
    from xshot.io import write_jsonl
    from xshot.training.checkpoint import load_model, read_manifest

    where = select_device(device)  # this machine's device and the input, checked before any weight loads
    examples = read_input(input_file, read_manifest(model_dir).run_config.task)
    model, cfg = load_model(model_dir)
    rows = label(model, cfg, examples, where)
    if out:
        write_jsonl(out, rows)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))


def export_cmd(
    run_dir: Path = typer.Argument(..., help="a directory written by xshot train --out"),
    out: Path = typer.Option(..., "--out", help="directory for the transformers checkpoint, tokenizer and model card"),
) -> None:
    """Export a fine-tuned NLI model as a transformers checkpoint (AutoModelForSequenceClassification)."""
    from xshot.export import export

    print(f"wrote {export(run_dir, out)}")


def methods_cmd() -> None:
    """List the registered methods in display order: what each trains, its learning rate and what it is."""
    from rich.console import Console
    from rich.table import Table

    from xshot.methods import get_method

    table = Table(title="methods (xshot train --method NAME; options: -o key=value)")
    for col in ("name", "trains", "learning rate", "what"):
        table.add_column(col)
    for name in method_names():
        method = get_method(name)
        config = method.config_class()
        table.add_row(name, "yes" if config.trains else "no", f"{config.learning_rate:g}" if config.trains else "—",
                      method.description)
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("methods")(methods_cmd)
    app.command("export")(export_cmd)
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("predict")(predict_cmd)
