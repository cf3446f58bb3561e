"""Does a frozen backbone's pair encoding carry NLI signal? A linear probe on K-shot features, as JSON.

For each reading of a premise/hypothesis pair — the first token and the mean of the jointly encoded
pair (what the cross-encoding methods train from), and the siamese feature [u, v, |u-v|, u*v] of the
two sentences encoded apart — a logistic regression is fitted on the K-shot English sample and scored
on N test pairs per language. No backbone weight is trained, so this shows what pretraining put there.

    python examples/closing-run/pair_encoding_probe.py MODEL --data-root ../shared/data [--k 16 --seed 1 --n 300]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from xshot.backbone import load_backbone
from xshot.data.sampling import sample_few_shot, subsample
from xshot.data.spec import load
from xshot.methods.siamese import mean_pool, pair_features


@torch.no_grad()
def encode(backbone, first: list[str], second: list[str] | None = None, batch: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """First-token and mean-pooled last hidden states."""
    heads, means = [], []
    for i in range(0, len(first), batch):
        enc = backbone.tokenizer(first[i:i + batch], None if second is None else second[i:i + batch],
                                 padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = backbone.body(**enc).last_hidden_state
        heads.append(hidden[:, 0])
        means.append(mean_pool(hidden, enc["attention_mask"]))
    return torch.cat(heads), torch.cat(means)


def readings(backbone, data) -> tuple[dict[str, np.ndarray], np.ndarray]:
    premises = [ex.premise for ex in data]
    hypotheses = [ex.hypothesis for ex in data]
    first, mean = encode(backbone, premises, hypotheses)
    u, v = encode(backbone, premises)[1], encode(backbone, hypotheses)[1]
    features = {"cross-first-token": first, "cross-mean": mean, "siamese": pair_features(u, v)}
    return {k: f.numpy() for k, f in features.items()}, np.array([ex.label for ex in data])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--languages", default="en,de,sw")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    backbone = load_backbone(args.model, want_lm_head=False)
    backbone.body.eval()
    train = sample_few_shot(load("xnli:en:dev", data_root=args.data_root), args.k, args.seed)
    x_train, y_train = readings(backbone, train)
    probes = {name: LogisticRegression(max_iter=2000).fit(x, y_train) for name, x in x_train.items()}
    result = {"model": args.model, "k": args.k, "seed": args.seed, "n": args.n, "accuracy": {}}
    for lang in args.languages.split(","):
        test = subsample(load(f"xnli:{lang}:test", data_root=args.data_root), args.n, 0)
        x_test, y_test = readings(backbone, test)
        result["accuracy"][lang] = {name: round(float((probe.predict(x_test[name]) == y_test).mean()), 4)
                                    for name, probe in probes.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
