"""Events: the model, the wire format, the outbox, consumers and the buses that carry them."""
