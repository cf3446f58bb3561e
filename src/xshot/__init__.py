"""xshot: few-shot cross-lingual transfer for low-resource languages."""

__version__ = "0.1.0"
