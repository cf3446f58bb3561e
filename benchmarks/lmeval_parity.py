"""Parity with lm-evaluation-harness: XGLM's XNLI template, the same items, per-item predictions compared.

xshot runs ``zero-shot -o template=xglm -o verbalizer_language=target`` on gemma3-270m over the stratified
subset ``--eval-limit`` draws from each language's XNLI test set; its predictions file holds those items. The
same items, written as a local JSON dataset, become lm-evaluation-harness tasks with the harness's own XNLI
definition (``doc_to_text: ''``, ``doc_to_choice``: premise + ", QUESTION? LABEL, " + hypothesis with its
per-language words, ``acc``), run by ``lm_eval.simple_evaluate`` on the same checkpoint, nothing from the Hub.
Both run in fp32 (or ``--dtype bfloat16``) in this process's environment, one after the other, timed.

lm-eval is not one of xshot's dependencies; install it beside xshot's packages, e.g.
``python -m venv /tmp/lmeval && printf '%s\n' $PWD/.venv/lib/python3.11/site-packages $PWD/src >
/tmp/lmeval/lib/python3.11/site-packages/xshot.pth && /tmp/lmeval/bin/pip install lm-eval``, then run this
script with that Python.

    /tmp/lmeval/bin/python benchmarks/lmeval_parity.py --languages de,sw --limit 300 [--out FILE]
"""

from __future__ import annotations

import json
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


def run_lm_eval(model: str, items: dict[str, list[dict]], dtype: str) -> tuple[dict[str, list[str]], float]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory() as tmp:
        names = lm_eval_tasks(items, Path(tmp))
        start = time.perf_counter()
        out = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype={dtype}", tasks=names,
                              task_manager=TaskManager(include_path=tmp), log_samples=True, batch_size=8,
                              device="cpu")
        took = time.perf_counter() - start
    predictions = {}
    for lang, name in zip(items, names):
        samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
        predictions[lang] = [CLASSES[max(range(3), key=lambda c: float(s["filtered_resps"][c][0]))] for s in samples]
    return predictions, took


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
        items = {lang: [json.loads(line) for line in (Path(tmp) / "run" / "predictions" / f"xnli_{lang}_test.jsonl")
                        .read_text(encoding="utf-8").splitlines()] for lang in languages}
    lm_predictions, lm_eval_s = run_lm_eval(model, items, args.dtype)
    per_language = {}
    for lang in languages:
        ours = [r["prediction"] for r in items[lang]]
        theirs = lm_predictions[lang]
        gold = [r["label"] for r in items[lang]]
        per_language[lang] = {
            "items": len(ours), "agree": sum(a == b for a, b in zip(ours, theirs)),
            "agreement": round(sum(a == b for a, b in zip(ours, theirs)) / len(ours), 4),
            "accuracy_xshot": round(sum(a == g for a, g in zip(ours, gold)) / len(gold), 4),
            "accuracy_lm_eval": round(sum(a == g for a, g in zip(theirs, gold)) / len(gold), 4),
            "differing_items": [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]}
    agreement = sum(v["agree"] for v in per_language.values()) / sum(v["items"] for v in per_language.values())
    C.emit({"benchmark": "lmeval_parity", "model": "gemma3-270m", "dtype": args.dtype, "template": "xglm",
            "per_language": per_language, "agreement": round(agreement, 4),
            "wall_s": {"xshot (whole run: load, encode, score)": round(xshot_s, 1),
                       "lm-eval (simple_evaluate)": round(lm_eval_s, 1)},
            "targets": [C.target("per-item agreement", agreement, ">=", 0.99)]}, args.out, 0)


if __name__ == "__main__":
    main()
