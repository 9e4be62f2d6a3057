"""The composition root: CLI, settings, the dispatcher factory, middlewares, sender, sandbox."""
