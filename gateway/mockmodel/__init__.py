"""A mock of the OpenAI video API for demos, end-to-end tests and benchmarks."""

from gateway.mockmodel.app import create_mock_app

__all__ = ["create_mock_app"]
