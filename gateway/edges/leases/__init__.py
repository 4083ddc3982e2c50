"""The background task that frees the concurrency slots of jobs nobody looked at again."""
