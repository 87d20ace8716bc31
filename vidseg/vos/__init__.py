"""Streaming semi-supervised VOS inference, independent of any model: ``VOSEngine`` (memory manager, object
add/remove, feature cache), ``MemoryBank``, ``TTAEngine`` (multi-scale / flip merging) and the model protocol."""
from .engine import EngineSettings, VOSEngine
from .memory import MemoryBank, MemoryEntry
from .protocol import StreamingVOSModel
from .tta import TTAEngine

__all__ = ["EngineSettings", "MemoryBank", "MemoryEntry", "StreamingVOSModel", "TTAEngine", "VOSEngine"]
