"""Pure Adaptive Card builders over typed models, and the typed payloads of their actions."""
