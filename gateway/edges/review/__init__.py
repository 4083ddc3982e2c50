"""The background task that submits approved review requests to the model API."""
