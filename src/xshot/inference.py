"""Labelling raw input files with a trained model (``xshot predict``)."""

from __future__ import annotations

from pathlib import Path

import torch

from xshot.backbone import select_device, select_precision
from xshot.data.examples import NERExample, NLIExample
from xshot.data.readers import conll_sentences, read_lines
from xshot.errors import XshotError
from xshot.methods.base import XshotModel
from xshot.training.config import RunConfig
from xshot.training.evaluate import predict_proba, to_inference_precision


def read_unlabelled(path: Path, task: str) -> list[NERExample] | list[NLIExample]:
    """NER: CoNLL (token per line, blank line between sentences) or one whitespace-tokenised sentence
    per line; NLI: TSV with premise and hypothesis columns (a ``premise hypothesis`` header is optional)."""
    lines = read_lines(path)
    if task == "nli":
        examples = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                raise XshotError("expected premise<TAB>hypothesis", path, number)
            if number == 1 and cols[0].strip().lower() == "premise":
                continue
            examples.append(NLIExample(cols[0], cols[1], None))
        return examples
    conll = any(not line.strip() for line in lines) and all(len(line.split()) <= 2 for line in lines if line.strip())
    if not conll:
        return [NERExample(tuple(line.split()), None) for line in lines if line.strip()]
    return [NERExample(tuple(line.split()[0] for _, line in block), None) for block in conll_sentences(lines)]


def read_input(path: Path, task: str) -> list[NERExample] | list[NLIExample]:
    """The examples of an input file, checked before any model loads."""
    examples = read_unlabelled(path, task)
    if not examples:
        raise XshotError("no examples to label", path)
    return examples


def label(model: XshotModel, config: RunConfig, examples: list[NERExample] | list[NLIExample],
          device: torch.device | None = None) -> list[dict]:
    """Labels and probabilities of ``examples`` on ``device`` (default: the best this machine has; the device
    a model was trained on need not exist where it is used)."""
    device = device or select_device()
    features = model.encode(examples)
    dtype = select_precision(device, config.precision)
    predicted = predict_proba(to_inference_precision(model, dtype), features, device=device, dtype=dtype)
    labels = model.labels
    named = predicted.named(labels)
    if config.task == "nli":
        return [{"premise": ex.premise, "hypothesis": ex.hypothesis, "label": labels.classes[c[0]],
                 "probabilities": n[0]} for ex, c, n in zip(examples, predicted.classes, named)]
    return [{"tokens": list(ex.tokens), "tags": labels.decode_ner(c, f.n_words), "probabilities": n}
            for ex, c, f, n in zip(examples, predicted.classes, features, named)]
