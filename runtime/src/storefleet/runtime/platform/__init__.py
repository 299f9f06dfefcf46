"""The shared kernel of the commerce runtime, in layers that import only downwards.

From the bottom up: ``config``; the event model (``events.model``); ``storage``
and ``telemetry``; ``events`` and ``web``; ``identity`` and ``resilience``.
``tests/unit/runtime/test_platform_layers.py`` holds the order, and that the
kernel imports no bounded context.
"""
