"""Provisioners of what a Store needs outside Kubernetes: one module per system.

Each implements :class:`~storefleet.operator.provisioners.base.Provisioner`
(ensure / describe / delete, idempotent, each returning a condition).
"""
