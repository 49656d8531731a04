"""selfimprove: small transformers that teach themselves harder problems, round by round."""

__version__ = "0.1.0"
