"""Notifications: email, SMS, push and in-app messages sent when events happen."""
