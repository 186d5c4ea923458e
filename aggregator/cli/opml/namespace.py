"""The XML namespace of our own outline attributes (the package docstring says
what they carry): export writes it, reading picks it out, and an import's notes
name its prefix."""

NAMESPACE = "urn:aggregator:opml"
PREFIX = "aggregator"
