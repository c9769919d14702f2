"""pydantic models of the files a user writes (suite.yaml, train.yaml) and their load-time checks.

Imports only the value types, the registries' kind modules (standard library and pydantic) and
the training config; nothing here imports torch, the runner or the decision code.
"""
