"""Shared test data for the study tests (a uniquely named module: conftest.py names are not unique)."""

FAKE_VARS = ("FAKE_RUNNER_LOG", "FAKE_RUNNER_EXIT_AFTER", "FAKE_RUNNER_SLEEP", "FAKE_RUNNER_FAIL", "FAKE_RUNNER_FAIL_KIND",
             "FAKE_RUNNER_HARD_CRASH_KEY", "FAKE_RUNNER_CRASH_ONCE_KEY", "FAKE_RUNNER_CRASH_MARKER")

TINY = """\
name: tiny
task: nli
models:
  - ${XSHOT_TEST_MODEL:-tiny-model}
methods:
  - finetune
  - {name: lora, learning_rate: 1.0e-3, options: {rank: 4}}
seeds: [1, 2]
languages: [de, sw]
defaults: {max_steps: 5, eval_limit: 50, batch_size: 4}
settings:
  - name: src
    train: xnli:en:dev
    k: [4, 16]
    eval: ["xnli:{lang}:test"]
"""
