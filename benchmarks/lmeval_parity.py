"""Parity with lm-evaluation-harness: XGLM's XNLI template, the same items, per-item predictions compared.

xshot runs ``zero-shot -o template=xglm -o verbalizer_language=target`` on gemma3-270m over the stratified
subset ``--eval-limit`` draws from each language's XNLI test set; its predictions file holds those items. The
same items, written as a local JSON dataset, become lm-evaluation-harness tasks with the harness's own XNLI
definition (``doc_to_text: ''``, ``doc_to_choice``: premise + ", QUESTION? LABEL, " + hypothesis with its
per-language words, ``acc``), run by ``lm_eval.simple_evaluate`` on the same checkpoint, nothing from the Hub.
Both run in fp32 (or ``--dtype bfloat16``) in this process's environment, one after the other, timed.

In bf16, lm-eval runs with ``softmax_dtype=float32`` (its bf16 log-softmax ties the classes of many items) and
xshot is run once more in fp32 as the reference both are compared with: an item on which the two bf16 tools
differ is explained by its margin (the log-likelihood gap between its two best classes) in each tool, and by
which of them agrees with fp32. lm-eval rounds the logits to bf16 before its fp32 log-softmax (up to 2^-9 of
each logit, summed over a sentence's tokens); xshot keeps the fp32 product near the top of each distribution
(``VocabScorer.token_log_probs``).

lm-eval is not one of xshot's dependencies; install it beside xshot's packages, e.g.
``python -m venv /tmp/lmeval && printf '%s\n' $PWD/.venv/lib/python3.11/site-packages $PWD/src >
/tmp/lmeval/lib/python3.11/site-packages/xshot.pth && /tmp/lmeval/bin/pip install lm-eval``, then run this
script with that Python.

    /tmp/lmeval/bin/python benchmarks/lmeval_parity.py --languages de,sw --limit 300 [--out FILE]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CLASSES = ("entailment", "neutral", "contradiction")


def run_xshot(model: str, languages: list[str], limit: int, dtype: str, out: Path, root: str) -> float:
    precision = {"float32": "fp32", "bfloat16": "bf16"}[dtype]
    cmd = [sys.executable, "-m", "xshot", "train", "--task", "nli", "--model", model, "--method", "zero-shot",
           "-o", "template=xglm", "-o", "verbalizer_language=target", "--train", "xnli:en:dev", "--k", "16",
           "--seed", "1", "--eval", ",".join(f"xnli:{lang}:test" for lang in languages), "--eval-limit", str(limit),
           "--precision", precision, "--out", str(out), "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "XSHOT_DATA_ROOT": root}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def read_xshot(out: Path, languages: list[str]) -> dict[str, list[dict]]:
    """Each language's predictions file: the items (premise, hypothesis, label) with xshot's class probabilities."""
    return {lang: [json.loads(line) for line in (out / "predictions" / f"xnli_{lang}_test.jsonl")
                   .read_text(encoding="utf-8").splitlines()] for lang in languages}


def margin(scores: list[float]) -> float:
    """The gap between the best and the second-best class score (log-likelihoods, or log-probabilities)."""
    first, second = sorted(scores, reverse=True)[:2]
    return first - second


def xshot_choice(row: dict) -> tuple[str, float]:
    logs = [math.log(max(row["probabilities"][c], 1e-30)) for c in CLASSES]
    return row["prediction"], margin(logs)


def lm_eval_tasks(items: dict[str, list[dict]], folder: Path) -> list[str]:
    """One lm-eval task per language over exactly ``items`` (the harness's XNLI definition, local data)."""
    import yaml

    from xshot.methods.prompts import named_template

    xglm = named_template("xglm")
    names = []
    for lang, rows in items.items():
        data = folder / f"{lang}.jsonl"
        data.write_text("".join(json.dumps({"premise": r["premise"], "hypothesis": r["hypothesis"],
                                            "label": CLASSES.index(r["label"])}, ensure_ascii=False) + "\n"
                                for r in rows), encoding="utf-8")
        words = xglm.words(lang)
        choices = ",".join(f'premise+", {words["question"]}? {words[c]}, "+hypothesis' for c in CLASSES)
        task = {"task": f"xshot_parity_xnli_{lang}", "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
                "output_type": "multiple_choice", "doc_to_text": "", "doc_to_target": "label",
                "doc_to_choice": "{{[" + choices + "]}}", "metric_list": [{"metric": "acc"}]}
        (folder / f"{lang}.yaml").write_text(yaml.safe_dump(task, allow_unicode=True), encoding="utf-8")
        names.append(task["task"])
    return names


def run_lm_eval(model: str, items: dict[str, list[dict]], dtype: str
                ) -> tuple[dict[str, list[tuple[str, float]]], float]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory() as tmp:
        names = lm_eval_tasks(items, Path(tmp))
        start = time.perf_counter()
        softmax = ",softmax_dtype=float32" if dtype == "bfloat16" else ""
        out = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype={dtype}{softmax}", tasks=names,
                              task_manager=TaskManager(include_path=tmp), log_samples=True, batch_size=8,
                              device="cpu")
        took = time.perf_counter() - start
    predictions = {}
    for lang, name in zip(items, names):
        samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
        scores = [[float(s["filtered_resps"][c][0]) for c in range(3)] for s in samples]
        predictions[lang] = [(CLASSES[max(range(3), key=sc.__getitem__)], margin(sc)) for sc in scores]
    return predictions, took


def compare(ours: list[tuple[str, float]], theirs: list[tuple[str, float]], gold: list[str],
            reference: list[str] | None) -> dict:
    """Per-item agreement of two tools' choices; each differing item with both margins and the fp32 choice."""
    differing = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a[0] != b[0]]
    agree = len(ours) - len(differing)
    out = {"items": len(ours), "agree": agree, "agreement": round(agree / len(ours), 4),
           "accuracy_xshot": round(sum(a[0] == g for a, g in zip(ours, gold)) / len(gold), 4),
           "accuracy_lm_eval": round(sum(b[0] == g for b, g in zip(theirs, gold)) / len(gold), 4),
           "differing_items": [{"item": i, "margin_xshot": round(ours[i][1], 4),
                                "margin_lm_eval": round(theirs[i][1], 4),
                                **({"fp32_agrees_with": "xshot" if reference[i] == ours[i][0] else
                                    "lm-eval" if reference[i] == theirs[i][0] else "neither"} if reference else {})}
                               for i in differing]}
    if reference is not None:
        out["agreement_with_fp32"] = {
            "xshot": round(sum(a[0] == r for a, r in zip(ours, reference)) / len(ours), 4),
            "lm-eval": round(sum(b[0] == r for b, r in zip(theirs, reference)) / len(ours), 4)}
    return out


def main() -> None:
    p = C.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--languages", default="de,sw")
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = p.parse_args()
    if args.quick:
        args.limit = 12
    root, model = C.data_root(args.data_root), C.model_path("gemma3-270m")
    languages = args.languages.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        xshot_s = run_xshot(model, languages, args.limit, args.dtype, Path(tmp) / "run", root)
        items = read_xshot(Path(tmp) / "run", languages)
        reference = None
        if args.dtype != "float32":  # the fp32 reference both bf16 tools are compared with (not timed against)
            run_xshot(model, languages, args.limit, "float32", Path(tmp) / "fp32", root)
            reference = {lang: [r["prediction"] for r in rows] for lang, rows in read_xshot(Path(tmp) / "fp32",
                                                                                           languages).items()}
    lm_predictions, lm_eval_s = run_lm_eval(model, items, args.dtype)
    per_language = {lang: compare([xshot_choice(r) for r in items[lang]], lm_predictions[lang],
                                  [r["label"] for r in items[lang]], reference and reference[lang])
                    for lang in languages}
    agreement = sum(v["agree"] for v in per_language.values()) / sum(v["items"] for v in per_language.values())
    C.emit({"benchmark": "lmeval_parity", "model": "gemma3-270m", "dtype": args.dtype, "template": "xglm",
            "lm_eval_softmax_dtype": "float32" if args.dtype == "bfloat16" else args.dtype,
            "per_language": per_language, "agreement": round(agreement, 4),
            "wall_s": {"xshot (whole run: load, encode, score)": round(xshot_s, 1),
                       "lm-eval (simple_evaluate)": round(lm_eval_s, 1)},
            "targets": [C.target("per-item agreement", agreement, ">=", 0.99),
                        C.target("xshot wall time / lm-eval's", xshot_s / lm_eval_s, "<=", 1.0)]}, args.out, 0)


if __name__ == "__main__":
    main()
