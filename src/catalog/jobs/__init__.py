"""The catalogue's jobs and services, one per module, each declared with its full policy.

Every module here with a module-level `registry = WorkRegistry()` is loaded at start-up
(`catalog.work.declarations.registries_in`): adding a module is all it takes.
"""
