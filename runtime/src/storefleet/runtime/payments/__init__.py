"""The payments context: gateways, authorizations, captures, refunds, saved cards,
fraud rules and subscriptions."""
