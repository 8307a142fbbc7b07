"""Carrier webhooks: Plivo XML and TwiML answers for calls to virtual numbers."""
