from gateway.ports.moderation.base import Moderator
from gateway.ports.moderation.cache import CachedModerator

__all__ = ["CachedModerator", "Moderator"]
