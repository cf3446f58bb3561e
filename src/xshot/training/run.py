"""One run (one cell of a study): sample shots, train once, evaluate on many languages.

The model is loaded and trained once; every evaluation set is then scored in the same process, so
adding target languages costs only their inference. The result is a :class:`~xshot.results.RunResult`
(``metrics.json``); with an output directory, predictions and the trained weights are saved too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xshot.backbone import count_parameters, precision_name, select_device, select_precision
from xshot.hardware import configure_threads, processor_name
from xshot.data import Dataset
from xshot.data.labels import resolve_policy
from xshot.data.sampling import subsample
from xshot.data.spec import check as check_dataset, with_language
from xshot.data.stats import word_fertility
from xshot.errors import XshotError
from xshot.io import write_jsonl
from xshot.methods.base import MethodConfig, Shots, XshotModel
from xshot.provenance import versions
from xshot.seeding import seed_everything
from xshot.results import Compute, Evaluation, Parameters, RunResult, ShotChoice, Timing, TrainingStage
from xshot.training.checkpoint import save_model
from xshot.training.config import RunConfig
from xshot.training.evaluate import predict_proba, to_inference_precision
from xshot.training.prepare import Runtime, build_model, dev_sample, load_data, method_config, training_data
from xshot.training.selection import CrossValidation, select_hyperparameters
from xshot.training.tracking import log_run, track_dir
from xshot.training.trainer import steps_for_budget, train

log = logging.getLogger("xshot")
EVAL_SUBSET_SEED = 0  # the same evaluation subset for every method and seed, so runs are paired


def evaluate_dataset(model: XshotModel, data: Dataset, rt: Runtime, *, bootstrap: int = 1000,
                     label_policy: str | dict = "shared") -> tuple[Evaluation, list[dict]]:
    """Scores with bootstrap intervals, plus one prediction record per example."""
    from xshot.metrics import bootstrap_ci, ner_scores, nli_scores
    from xshot.training.cache import cached_encode

    start = time.perf_counter()
    model.set_language(data.language)
    # tokenized once per (tokenizer, data, input format): reused from disk by later cells and runs
    encoded = cached_encode(model, data, {"fertility": lambda: word_fertility(model.backbone.tokenizer, data),
                                          **model.encoding_extras()})
    features = encoded.features
    predicted = predict_proba(model, features, device=rt.device, dtype=rt.dtype, progress=rt.progress)
    class_ids, named = predicted.classes, predicted.named(model.labels)
    notes: list[str] = model.evaluation_notes()
    if encoded.extras.get("demonstrations_dropped"):
        shown = encoded.extras["demonstrations_shown"] / max(1, len(features))
        notes.append(f"{encoded.extras['demonstrations_dropped']} of {len(features)} inputs dropped demonstrations "
                     f"to fit max_length {model.input_format.max_length} (mean shown {shown:.2f} of "
                     f"{len(model.input_format.demonstrations)})")
    if model.labels.task == "nli":
        pred = [model.labels.classes[c[0]] for c in class_ids]
        gold = [ex.label for ex in data.examples]
        scores = nli_scores(gold, pred)
        records = [{**ex.to_json(), "prediction": p, "probabilities": n[0]} for ex, p, n in zip(data.examples, pred, named)]
    else:
        pred = [model.labels.decode_ner(c, f.n_words) for c, f in zip(class_ids, features)]
        policy = resolve_policy(model.labels.entity_types, data.labels, label_policy)
        notes.append(policy.report())
        gold = policy.apply(ex.tags for ex in data.examples)
        pred_eval = policy.apply(pred)
        scores = ner_scores(gold, pred_eval)
        records = [{**ex.to_json(), "prediction": list(p), "probabilities": n}  # per kept word
                   for ex, p, n in zip(data.examples, pred, named)]
        gold, pred = gold, pred_eval
    ci = bootstrap_ci(model.labels.task, gold, pred, n_resamples=bootstrap, seed=0) if bootstrap else {}
    evaluation = Evaluation(spec=data.name, language=data.language, n=len(data), scores=scores, ci=ci,
                            fertility=encoded.extras["fertility"], eval_s=time.perf_counter() - start, notes=notes,
                            **{k: v for k, v in encoded.extras.items() if k != "fertility"})
    return evaluation, records


def evaluate_spec(model: XshotModel, config: RunConfig, mcfg: MethodConfig, spec: str, split: str,
                  limit: int | None, rt: Runtime, shots_seen: set[str | None]) -> tuple[Evaluation, list[dict]]:
    """One evaluation set of a run (``xshot train``) or of a saved model (``xshot eval``): its stratified,
    seeded subset, target-language demonstrations where the method wants them, scores and predictions."""
    data = load_data(spec, split, rt.data_root)
    if data.task != config.task:
        raise XshotError(f"evaluation set {spec} is a {data.task} dataset, but the run's task is {config.task}")
    if limit:
        data = subsample(data, limit, EVAL_SUBSET_SEED)
    data.name = spec
    if mcfg.wants_target_shots and data.language not in shots_seen:
        shots = training_data(config, with_language(config.train, data.language), config.k, rt)
        model.observe_shots(shots.examples, data.language, config.seed)
        shots_seen.add(data.language)
    return evaluate_dataset(model, data, rt, bootstrap=config.bootstrap,
                            label_policy=dict(config.label_map) or config.label_policy)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak, so that cells run one after another in a process each report their own."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 resets the resident-set high-water mark (VmHWM)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak (KiB on Linux)


@dataclass
class Prepared:
    """A run's inputs, checked and loaded: its runtime, method config, training sets and model."""

    device: torch.device
    threads: int
    rt: Runtime
    mcfg: MethodConfig
    source: Dataset  # the source-language shots
    target: Dataset | None  # the target-language shots, when the run has them
    entity_types: tuple[str, ...]
    model: XshotModel
    load_s: float


@dataclass
class Trained:
    """What training did: the method config it ended with (values chosen on the shots), each stage's loss
    curve, the choices made from the shots, and its cost."""

    mcfg: MethodConfig
    training: list[TrainingStage] = field(default_factory=list)
    choices: list[ShotChoice] = field(default_factory=list)
    train_s: float = 0.0
    choose_s: float = 0.0
    tokens: int = 0
    flops: float = 0.0
    params: Parameters | None = None  # counted as trained (before inference merges adapters into the weights)


def run(config: RunConfig, out_dir: str | Path | None = None, *, data_root: str | None = None,
        progress: bool = False, track: str | Path | None = None) -> RunResult:
    """Train one configuration and evaluate it on every evaluation set: prepare, train, evaluate, assemble.

    ``track``: a TensorBoard log directory (default ``$XSHOT_TRACK_DIR``; none: no tracking).
    """
    p = prepare_run(config, data_root, progress)
    trained = train_stages(config, p, progress)
    out = Path(out_dir) if out_dir else None
    if out:  # the trained (fp32) weights, before a bf16 evaluation casts them
        save_model(p.model, out / "model", config, trained.mcfg, p.entity_types, p.source.language, trained.choices)
    to_inference_precision(p.model, p.rt.dtype)
    evaluations = evaluate_all(config, p, trained.mcfg, out)
    result = assemble(config, p, trained, evaluations)
    if out:
        result.save(out / "metrics.json")
    tracking = track_dir(track)
    if tracking is not None:
        log_run(result, tracking)
    return result


def prepare_run(config: RunConfig, data_root: str | None, progress: bool) -> Prepared:
    """Device, threads, precision and method config; every dataset checked before anything loads; the shots
    and the model (seeded: new heads are initialised at random, same seed, same model)."""
    device = select_device(config.device)
    threads = configure_threads()
    rt = Runtime(device, select_precision(device, config.precision), data_root, progress)
    mcfg = method_config(config)
    reset_peak_memory(device)
    seed_everything(config.seed)
    t0 = time.perf_counter()
    for spec, split in config.datasets():  # an evaluation set that cannot be read fails now, not after training
        check_dataset(spec, split, data_root)
    source = training_data(config, config.train, config.k, rt)
    target = training_data(config, config.target_train, config.target_k, rt) if config.target_train else None
    entity_types = source.labels if config.task == "ner" else ()
    model = build_model(config, mcfg, entity_types, source.language)
    log.info("run %s: %s on %s, %d training examples, %s", config.key(), config.method, config.model,
             len(source), "; ".join(model.notes) or "no notes")
    log.info("config: %s", json.dumps(config.model_dump(mode="json"), sort_keys=True))  # once the inputs are valid
    return Prepared(device, threads, rt, mcfg, source, target, entity_types, model, time.perf_counter() - t0)


def train_stages(config: RunConfig, p: Prepared, progress: bool) -> Trained:
    """Train on the source shots, then on the target shots when the run has them (methods that do not train
    only see them); the search on the shots, if any, chooses on the source stage and every stage uses it."""
    trained = Trained(p.mcfg)
    for stage in (p.source, p.target):
        if stage is None:
            continue
        if not trained.mcfg.trains:  # zero-shot and in-context methods only see the shots
            p.model.observe_shots(stage.examples, stage.language, config.seed)
            continue
        _train_stage(config, p, stage, trained, progress)
    trained.params = Parameters(**count_parameters(p.model))
    return trained


def _train_stage(config: RunConfig, p: Prepared, stage: Dataset, trained: Trained, progress: bool) -> None:
    model, rt = p.model, p.rt
    model.to(p.device)
    features = model.encode(stage.examples)
    budget_steps = None
    if config.budget.get("train_flops"):  # equal compute: as many steps as the budget buys this method
        budget_steps = steps_for_budget(model, features, trained.mcfg, float(config.budget["train_flops"]))
    steps = budget_steps if budget_steps is not None else config.max_steps
    if config.search and stage is not p.source:  # the values chosen on the source shots
        steps = budget_steps if budget_steps is not None else trained.mcfg.max_steps
    cross_validate = CrossValidation(model, stage.examples, trained.mcfg, p.device, rt.dtype, config.seed, steps,
                                     config.epochs)
    started = time.perf_counter()
    trained.choices += model.choose_from_shots(Shots(stage.examples, stage.language, config.seed, cross_validate,
                                                     lambda spec: training_data(config, spec, None, rt).examples))
    if config.search and stage is p.source:  # the chosen values then train every stage
        dev = dev_sample(config, p.source, rt) if config.selection == "dev-k" else None
        trained.mcfg, chosen = select_hyperparameters(config.model_copy(update={"max_steps": steps}), model,
                                                      cross_validate, dev)
        trained.choices.append(chosen)
        steps = trained.mcfg.max_steps
    trained.choose_s += time.perf_counter() - started
    result = train(model, features, trained.mcfg, seed=config.seed, device=p.device, dtype=rt.dtype,
                   max_steps=steps, epochs=config.epochs, progress=progress)
    trained.train_s += result.seconds
    trained.tokens += result.tokens
    trained.flops += result.flops
    trained.training.append(TrainingStage(data=stage.name, examples=len(stage), steps=result.steps,
                                          loss=[round(x, 5) for x in result.losses]))


def evaluate_all(config: RunConfig, p: Prepared, mcfg: MethodConfig, out: Path | None) -> dict[str, Evaluation]:
    """Every evaluation set, in order (predictions written under ``out``)."""
    evaluations: dict[str, Evaluation] = {}
    shots_seen = {p.source.language}
    for spec in config.eval:
        evaluation, records = evaluate_spec(p.model, config, mcfg, spec, config.eval_split, config.eval_limit, p.rt,
                                            shots_seen)
        evaluations[spec] = evaluation
        if out:
            write_jsonl(out / "predictions" / f"{_safe(spec)}.jsonl", records)
    return evaluations


def assemble(config: RunConfig, p: Prepared, trained: Trained, evaluations: dict[str, Evaluation]) -> RunResult:
    source = p.source
    return RunResult(
        key=config.key(),
        config=config.model_dump(mode="json"),
        method_config=dataclasses.asdict(trained.mcfg),
        task=config.task,
        source_language=source.language,
        train_examples=len(source),
        train_counts=source.meta.get("mention_counts") or source.meta.get("label_counts"),
        training=trained.training,
        evaluations=evaluations,
        params=trained.params or Parameters(**count_parameters(p.model)),
        time=Timing(load_s=p.load_s, choose_s=trained.choose_s, train_s=trained.train_s,
                    eval_s=sum(e.eval_s or 0.0 for e in evaluations.values())),
        compute=Compute(train_tokens=trained.tokens, train_flops=trained.flops),
        peak_memory_mb=peak_memory_mb(p.device),
        model_source=p.model.backbone.name,
        device=str(p.device),
        precision=precision_name(p.rt.dtype),
        threads=p.threads,
        processor=processor_name(p.device.type),
        notes=p.model.notes,
        choices=trained.choices,
        versions=versions(),
    )


def _safe(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in spec)
