"""The orders context: checkout (a persisted saga), the order state machine,
history and tracking, fulfilment, returns and refunds."""
