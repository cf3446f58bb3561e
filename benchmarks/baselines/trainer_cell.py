"""One few-shot cell written the usual way: ``transformers.Trainer`` and one ``trainer.predict`` per language.

The reference for ``benchmarks/cell_cost.py``. It does the same work as an xshot ``finetune`` cell —
the same K-per-class training sample, the same number of optimisation steps, learning rate, batch
size, warm-up, weight decay and gradient clipping, the same evaluation subsets — the way the
Hugging Face tutorials write it:

* ``AutoModelForSequenceClassification`` on the checkpoint (its pooler + linear classifier), all
  parameters trained (the tutorials do not freeze the embedding matrix);
* ``datasets.Dataset.map`` tokenization with truncation, ``DataCollatorWithPadding`` (dynamic
  padding per batch), batches in dataset order;
* ``Trainer.train`` with ``max_steps``; ``Trainer.predict`` once per evaluation language with the
  default evaluation batch size (8) and accuracy from the returned logits.

Only the choice of examples uses xshot (its loader, seeded K-per-class sample and stratified
evaluation subsets), so both sides see exactly the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

LABELS = ("entailment", "neutral", "contradiction")


def run_cell(model_path: str, data_root: str, *, train_spec: str = "xnli:en:dev", k: int = 16, seed: int = 1,
             steps: int = 30, learning_rate: float = 3e-5, batch_size: int = 8, warmup_ratio: float = 0.1,
             weight_decay: float = 0.01, max_grad_norm: float = 1.0, eval_specs: list[str] | None = None,
             eval_limit: int | None = 500, eval_batch_size: int = 8, max_length: int = 256,
             bf16: bool = False) -> dict[str, Any]:
    """Train and evaluate one cell; returns accuracies, predictions and timings."""
    import numpy as np
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from xshot.data import load
    from xshot.data.sampling import sample_few_shot, subsample

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})

    def to_dataset(examples) -> Dataset:
        ds = Dataset.from_dict({"premise": [e.premise for e in examples], "hypothesis": [e.hypothesis for e in examples],
                                "label": [LABELS.index(e.label) for e in examples]})
        return ds.map(lambda b: tokenizer(b["premise"], b["hypothesis"], truncation=True, max_length=max_length),
                      batched=True, remove_columns=["premise", "hypothesis"])

    train_examples = sample_few_shot(load(train_spec, "train", data_root), k, seed).examples
    train_ds = to_dataset(train_examples)
    load_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="trainer-cell-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, max_steps=steps, learning_rate=learning_rate, per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=eval_batch_size, warmup_steps=int(warmup_ratio * steps), weight_decay=weight_decay,
            max_grad_norm=max_grad_norm, lr_scheduler_type="linear", seed=seed, save_strategy="no",
            logging_strategy="no", eval_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, bf16=bf16,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                          data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
        t0 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t0

        evaluations: dict[str, Any] = {}
        t0 = time.perf_counter()
        for spec in eval_specs or []:
            data = load(spec, "test", data_root)
            if eval_limit:
                data = subsample(data, eval_limit, 0)  # the same subset as xshot's runs (seed 0)
            output = trainer.predict(to_dataset(data.examples))
            pred = np.asarray(output.predictions).argmax(-1)
            gold = np.asarray(output.label_ids)
            evaluations[spec] = {"n": int(len(gold)), "accuracy": float((pred == gold).mean()),
                                 "predictions": [LABELS[i] for i in pred.tolist()]}
        eval_s = time.perf_counter() - t0
    return {"evaluations": evaluations,
            "time": {"load_s": load_s, "train_s": train_s, "eval_s": eval_s, "total_s": time.perf_counter() - start}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data-root", default=os.environ.get("XSHOT_DATA_ROOT"))
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--languages", default="de,sw,ur,zh,ar")
    p.add_argument("--eval-limit", type=int, default=500)
    args = p.parse_args()
    result = run_cell(args.model, args.data_root, k=args.k, steps=args.steps,
                      eval_specs=[f"xnli:{lang}:test" for lang in args.languages.split(",")], eval_limit=args.eval_limit)
    for ev in result["evaluations"].values():
        ev.pop("predictions")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
