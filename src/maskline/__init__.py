"""maskline: a self-hosted phone-number masking service speaking Plivo's Masking Session API."""

__version__ = "0.1.0"
