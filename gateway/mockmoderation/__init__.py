"""A mock of the OpenAI moderation API for demos and end-to-end tests."""

from gateway.mockmoderation.app import create_mock_moderation_app

__all__ = ["create_mock_moderation_app"]
