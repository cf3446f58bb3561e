"""Loading a backbone never leaves a weight at random, whatever name the checkpoint stores it under."""

import os
import shutil
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import load_file, save_file

import xshot.backbone as backbone_module
from xshot.backbone import load_backbone
from xshot.errors import XshotError


def rewritten(source: str, target, edit) -> str:
    """A copy of a saved model whose weight file is passed through ``edit`` (a dict → dict function)."""
    shutil.copytree(source, target)
    path = target / "model.safetensors"
    save_file(edit(load_file(path)), path, metadata={"format": "pt"})
    return str(target)


def test_tied_embeddings_stored_only_as_the_lm_head_are_recovered(tiny_decoder, tmp_path):
    stored = load_file(f"{tiny_decoder}/model.safetensors")
    [embed_key] = [k for k in stored if k.endswith("embed_tokens.weight")]

    def head_only(state):  # how some converted checkpoints (e.g. from GGUF) keep tied embeddings
        state["lm_head.weight"] = state.pop(embed_key)
        return state

    path = rewritten(tiny_decoder, tmp_path / "head-only", head_only)
    for want_head in (False, True):
        backbone = load_backbone(path, want_lm_head=want_head)
        assert torch.equal(backbone.body.get_input_embeddings().weight, stored[embed_key])
        assert (backbone.lm_head is not None) == want_head


def test_a_weight_missing_from_the_checkpoint_is_an_error(tiny_encoder_no_head, tmp_path):
    def drop_a_layer_weight(state):
        del state[next(k for k in state if "attention" in k and k.endswith("weight"))]
        return state

    path = rewritten(tiny_encoder_no_head, tmp_path / "incomplete", drop_a_layer_weight)
    with pytest.raises(XshotError, match=r"has no weights for .*attention.*\(they would be random\)"):
        load_backbone(path, want_lm_head=False)


@pytest.mark.parametrize("native,expected", [(True, torch.bfloat16), (False, None)])
def test_auto_precision_is_bf16_on_cpus_with_bf16_matrix_units(monkeypatch, native, expected):
    from xshot import backbone

    monkeypatch.setattr(backbone, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert backbone.select_precision(cpu, "auto") is expected
    assert backbone.select_precision(cpu, "fp32") is None and backbone.select_precision(cpu, "bf16") is torch.bfloat16
    assert backbone.precision_name(backbone.select_precision(cpu, "auto")) == ("bf16" if native else "fp32")


@pytest.mark.parametrize("major,hip,expected", [(7, None, torch.float16), (8, None, torch.bfloat16),
                                               (9, None, torch.bfloat16), (7, "6.2", torch.bfloat16)])
def test_auto_precision_on_cuda_is_bf16_only_where_tensor_cores_have_it(monkeypatch, caplog, major, hip, expected):
    # torch.cuda.is_bf16_supported() says yes on a V100/T4 (sm 7.x), where bf16 is emulated: fp16 there
    from types import SimpleNamespace

    from xshot import backbone

    asked = []
    monkeypatch.setattr(torch.version, "hip", hip)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: asked.append(device) or SimpleNamespace(major=major, minor=0))
    gpu = torch.device("cuda", 1)
    assert backbone.select_precision(gpu, "auto") is expected
    assert backbone.select_precision(gpu, "fp32") is None
    assert hip or asked == [gpu]  # the run's device, not the current one
    backbone._warn_emulated.cache_clear()
    with caplog.at_level("WARNING", logger="xshot"):
        assert backbone.select_precision(gpu, "bf16") is torch.bfloat16
    warned = [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()]
    assert len(warned) == (1 if expected is torch.float16 else 0)
    assert not warned or "compute capability 8.0" in warned[0]
    backbone._warn_emulated.cache_clear()


def test_a_device_is_checked_before_anything_loads(monkeypatch):
    from xshot import backbone
    from xshot.errors import XshotError

    assert backbone.select_device("cpu") == torch.device("cpu")
    with pytest.raises(XshotError, match=r"^unknown device 'cdua' \(valid: auto, cpu, cuda, cuda:N, mps\)$"):
        backbone.select_device("cdua")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    with pytest.raises(XshotError, match=r"^device cuda: no CUDA device on this machine \(torch .* is built without "
                                         r"CUDA\); use auto or cpu$"):
        backbone.select_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    with pytest.raises(XshotError, match=r"\(torch sees no GPU\)"):
        backbone.select_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert backbone.select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(XshotError, match=r"^device cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1$"):
        backbone.select_device("cuda:2")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(XshotError, match=r"^device mps: no Apple GPU"):
        backbone.select_device("mps")


@pytest.mark.parametrize("name,ok", [("auto", True), ("cpu", True), ("cuda", True), ("cuda:3", True), ("mps", True),
                                     ("cdua", False), ("cuda:", False), ("gpu", False), ("CPU", False)])
def test_run_configs_accept_only_device_names(name, ok):
    from pydantic import ValidationError

    from xshot.training.config import RunConfig

    make = lambda: RunConfig(task="nli", model="m", method="finetune", train="xnli:en:dev", device=name)  # noqa: E731
    if ok:
        assert make().device == name
    else:
        with pytest.raises(ValidationError, match=f"unknown device '{name}'"):
            make()


@pytest.mark.parametrize("precision,probe,native", [("bf16", "cpu_has_native_bf16", True),
                                                   ("bf16", "cpu_has_native_bf16", False),
                                                   ("fp16", "cpu_has_native_fp16", True),
                                                   ("fp16", "cpu_has_native_fp16", False),
                                                   ("fp16", "cpu_has_native_fp16", None)])
def test_a_precision_the_cpu_emulates_is_run_with_one_warning(monkeypatch, caplog, precision, probe, native):
    from xshot import backbone

    monkeypatch.setattr(backbone, probe, lambda: native)
    backbone._warn_emulated.cache_clear()
    with caplog.at_level("WARNING", logger="xshot"):
        for _ in range(2):
            assert backbone.select_precision(torch.device("cpu"), precision) is \
                {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    warned = [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()]
    # once per process, not per run; only where the CPU is known to lack the units (None: cannot tell)
    assert warned == ([backbone.EMULATED[(precision, "cpu")]] if native is False else [])
    assert native is not False or "fp32 is faster on this machine" in warned[0]
    backbone._warn_emulated.cache_clear()


def test_native_fp16_detection_reads_the_cpu_flags():
    import platform

    from xshot.hardware import cpu_has_native_fp16

    flags = open("/proc/cpuinfo", encoding="utf-8").read()
    expected = (" amx_fp16" in flags or " avx512_fp16" in flags) if platform.machine() == "x86_64" else None
    assert cpu_has_native_fp16() == expected


def test_native_bf16_detection_reads_the_cpu_flags():
    from xshot.hardware import cpu_has_native_bf16

    flags = open("/proc/cpuinfo", encoding="utf-8").read()
    assert cpu_has_native_bf16() == (" amx_bf16" in flags or " avx512_bf16" in flags)


def test_threads_follow_omp_num_threads_else_the_physical_cores(monkeypatch):
    import psutil

    from xshot.hardware import configure_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert configure_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr("xshot.hardware.xshot_processes", lambda: 1)  # alone (test_hardware.py: shared)
        monkeypatch.setattr("xshot.hardware.cgroup_cpus", lambda: None)
        usable = len(os.sched_getaffinity(0))  # hyper-threads left out
        assert configure_threads() == max(1, usable * psutil.cpu_count(logical=False) // psutil.cpu_count(logical=True))
    finally:
        torch.set_num_threads(before)


def test_a_process_loads_each_tokenizer_once_and_each_model_afresh(tiny_decoder):
    """Cells share the tokenizer (loading one costs seconds); weights are never shared between cells."""
    first, second = load_backbone(tiny_decoder), load_backbone(tiny_decoder)
    assert first.tokenizer is second.tokenizer
    assert first.tokenizer.pad_token_id is not None  # a decoder without one gets its end-of-sequence token
    assert first.body is not second.body
    with torch.no_grad():
        first.body.get_input_embeddings().weight.add_(1.0)
    assert not torch.equal(first.body.get_input_embeddings().weight, second.body.get_input_embeddings().weight)


@pytest.fixture
def nothing_kept(monkeypatch):
    monkeypatch.setattr(backbone_module, "_kept", OrderedDict())


def test_a_later_load_is_a_copy_of_the_kept_weights_with_the_head_still_tied(tiny_decoder, nothing_kept):
    first, second = (load_backbone(tiny_decoder, want_lm_head=True) for _ in range(2))
    assert len(backbone_module._kept) == 1
    assert first.body.state_dict().keys() == second.body.state_dict().keys()
    for (name, a), b in zip(first.body.state_dict().items(), second.body.state_dict().values()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr(), name
    for loaded in (first, second):
        assert loaded.lm_head.weight is loaded.body.get_input_embeddings().weight


def test_loading_draws_nothing_from_the_callers_generator_loaded_or_copied(tiny_decoder, nothing_kept):
    torch.manual_seed(0)
    expected = torch.rand(4)
    for _ in range(2):  # loaded from disk, then copied
        torch.manual_seed(0)
        load_backbone(tiny_decoder)
        assert torch.equal(torch.rand(4), expected)


def test_a_checkpoint_rewritten_on_disk_is_loaded_again(tiny_decoder, tmp_path, nothing_kept):
    path = rewritten(tiny_decoder, tmp_path / "model", lambda state: state)
    before = load_backbone(path).body.get_input_embeddings().weight.clone()
    rewritten(path, tmp_path / "edited", lambda state: {k: v + 1 for k, v in state.items()})
    shutil.rmtree(path)
    shutil.copytree(tmp_path / "edited", path)
    after = load_backbone(path).body.get_input_embeddings().weight
    assert torch.allclose(after, before + 1)


def test_a_checkpoint_over_the_byte_budget_is_not_kept(tiny_decoder, nothing_kept, monkeypatch):
    monkeypatch.setattr(backbone_module, "KEEP_BYTES", 0)
    load_backbone(tiny_decoder)
    assert not backbone_module._kept
