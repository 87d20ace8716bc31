from .video_instances import VideoInstances

__all__ = ["VideoInstances"]
