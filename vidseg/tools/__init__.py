"""Command-line utilities: ``python -m vidseg.tools.<name>`` (``model_stats``: parameter counts of a config)."""
