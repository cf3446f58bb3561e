"""How many in-context demonstrations a study's ICL cells showed: each cell's evaluation sets encoded as its run
encodes them (same shots, same demonstrations, same test subset), no forward pass. JSON out.

    python scripts/icl_demonstrations_shown.py examples/headline.yaml [--setting nli-decoder] [--max-length N]
"""

from __future__ import annotations

import argparse
import json
import sys

from xshot.data.sampling import subsample
from xshot.studies.grid import expand
from xshot.studies.spec import load_study
from xshot.training.prepare import load_data, method_config
from xshot.training.run import EVAL_SUBSET_SEED, prepare_run


def shown(config, data_root: str | None) -> dict[str, dict[str, float]]:
    p = prepare_run(config, data_root, progress=False)
    p.model.observe_shots(p.source.examples, p.source.language, config.seed)
    fmt, out = p.model.input_format, {}
    for spec in config.eval:
        data = load_data(spec, config.eval_split, data_root)
        data = subsample(data, config.eval_limit, EVAL_SUBSET_SEED) if config.eval_limit else data
        p.model.set_language(data.language)
        features = p.model.encode(data.examples)
        out[spec] = {"inputs": len(features), "dropped_some": fmt.demonstrations_dropped,
                     "mean_shown": round(fmt.demonstrations_shown / len(features), 3),
                     "of": len(fmt.demonstrations)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study")
    ap.add_argument("--setting", default=None)
    ap.add_argument("--max-length", type=int, default=None, help="encode as if the cells had this max_length")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    cells = [c for c in expand(load_study(args.study)) if c.config.method == "icl"
             and (args.setting is None or c.setting == args.setting)]
    report = []
    for cell in cells:
        config = cell.config if args.max_length is None else cell.config.model_copy(
            update={"max_length": args.max_length})
        method_config(config)
        per_set = shown(config, args.data_root)
        report.append({"setting": cell.setting, "seed": config.seed, "max_length": config.max_length,
                       "per_set": per_set,
                       "inputs": sum(v["inputs"] for v in per_set.values()),
                       "dropped_some": sum(v["dropped_some"] for v in per_set.values()),
                       "mean_shown": round(sum(v["mean_shown"] * v["inputs"] for v in per_set.values())
                                           / sum(v["inputs"] for v in per_set.values()), 3)})
        print(f"{cell.setting} seed {config.seed} max_length {config.max_length}: {report[-1]['dropped_some']} of "
              f"{report[-1]['inputs']} inputs dropped some, mean shown {report[-1]['mean_shown']}", file=sys.stderr)
    json.dump(report, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
