"""``xshot export``: a trained run as a plain transformers checkpoint with a model card.

Fine-tuning on NLI (joint encoding) trains a transformers ``*ForSequenceClassification`` (see
``methods.finetune``), so the export is that model, saved as safetensors with its tokenizer:
``AutoModelForSequenceClassification.from_pretrained(DIR)`` gives the same logits as xshot. Parameter-
efficient runs already carry a peft adapter directory (``model/peft``); other methods score with
label words or label names and have no transformers equivalent, which the error says.
"""

from __future__ import annotations

from pathlib import Path

from xshot.errors import XshotError
from xshot.io import atomic_open
from xshot.methods import get_method, method_names
from xshot.results import RunResult


def export(run_dir: Path, out: Path) -> Path:
    from xshot.training.checkpoint import PEFT_DIR, load_model, read_manifest

    manifest = read_manifest(run_dir)  # refuse before loading anything
    method, task = manifest.run_config.method, manifest.run_config.task
    exportable = [name for name in method_names() if get_method(name).exports]
    if task not in get_method(method).exports or manifest.method_config.get("pair_encoding", "cross") != "cross":
        peft = next(Path(run_dir).glob(f"**/{PEFT_DIR}/adapter_config.json"), None)
        hint = f"; its adapter is in {peft.parent} (peft format)" if peft else ""
        raise XshotError(f"{run_dir}: only {', '.join(exportable)} on NLI with pair_encoding cross exports as a "
                         f"transformers sequence classifier, not {method} on {task}{hint}")
    model, config = load_model(run_dir)
    model.classifier.save_pretrained(out, safe_serialization=True)
    model.backbone.tokenizer.save_pretrained(out)
    metrics_path = Path(run_dir) / "metrics.json"
    metrics = RunResult.load(metrics_path) if metrics_path.is_file() else None
    with atomic_open(out / "README.md") as f:
        f.write(model_card(config, model, metrics))
    return out


def model_card(config, model, metrics: RunResult | None) -> str:
    from xshot.methods.inputs import DECODER_PAIR_TEMPLATE

    base = model.backbone.name
    if model.backbone.kind == "decoder":
        text = "tokenizer(" + repr(DECODER_PAIR_TEMPLATE) + ".format(premise=premise, hypothesis=hypothesis), return_tensors='pt')"
    else:
        text = "tokenizer(premise, hypothesis, return_tensors='pt')"
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-classification", "tags: [xshot, nli, few-shot]", "---",
        f"# {config.method} on {config.train} (K = {config.k}, seed {config.seed})", "",
        "Trained with xshot (few-shot cross-lingual transfer) by plain fine-tuning of the base model's "
        "sequence-classification head.", "",
        f"- base model: `{base}` (as named: `{config.model}`)",
        f"- method: `{config.method}`; training data: `{config.train}`, K = {config.k} per class, seed {config.seed}",
        f"- steps: {config.max_steps}, learning rate: {config.learning_rate}, batch size: {config.batch_size}, "
        f"max length: {config.max_length}, precision: {config.precision}",
        "- labels: " + ", ".join(f"{i}: {c}" for i, c in enumerate(model.labels.classes)),
        "",
    ]
    if metrics:
        primary = metrics.primary_metric
        lines += [f"| evaluation set | n | {primary} | 95% bootstrap CI |", "|---|---:|---:|---|"]
        for spec, ev in metrics.evaluations.items():
            lo, hi = ev.ci.get(primary, (float("nan"), float("nan")))
            lines.append(f"| {spec} | {ev.n} | {ev.score(primary):.4f} | [{lo:.4f}, {hi:.4f}] |")
        lines.append("")
    lines += ["```python", "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
              "model = AutoModelForSequenceClassification.from_pretrained(PATH)",
              "tokenizer = AutoTokenizer.from_pretrained(PATH)",
              f"logits = model(**{text}).logits", "```", ""]
    return "\n".join(lines)
