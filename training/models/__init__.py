"""Network definitions: building blocks, the multi-exit container and the per-task architectures."""
