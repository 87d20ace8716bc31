"""vidseg data: format I/O, dataset loaders and registration, mappers, transforms, loaders.

Importing this package registers every built-in dataset name once (``datasets/builtin.py``).
"""
from .datasets import register_all_builtin

register_all_builtin()
