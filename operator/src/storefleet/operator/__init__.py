"""The Storefleet operator: Kopf handlers, the reconcile loop, provisioners and status."""
