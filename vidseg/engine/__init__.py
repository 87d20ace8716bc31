from .trainer import VideoTrainer, wrap_ddp

__all__ = ["VideoTrainer", "wrap_ddp"]
