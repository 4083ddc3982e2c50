"""The review queue as the gateway runs it: expiry and give-back, lookups for the HTTP
path, and the background task that submits approved requests to the model API."""
