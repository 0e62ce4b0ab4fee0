"""CORS for the buckets Encord's web app reads from: one policy, each provider's native form."""
