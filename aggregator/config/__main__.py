"""`python -m aggregator.config`: print the README's configuration reference."""

from aggregator.config.reference import reference_markdown

print(reference_markdown(), end="")
