"""Cryptographic adapters: signing keys on disk and signature checks (via ``cryptography``)."""
