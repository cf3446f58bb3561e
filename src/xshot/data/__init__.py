"""Datasets for few-shot cross-lingual NER and NLI: spec strings, readers, samplers, statistics."""

from xshot.data.examples import Dataset, NERExample, NLIExample
from xshot.data.spec import load

__all__ = ["Dataset", "NERExample", "NLIExample", "load"]
