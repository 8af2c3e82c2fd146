"""The vault: hub key, encrypted personal data, consent tokens and encrypted backups.

An adapter package: it does the cryptography, the SQL on the vault's tables and the backup
streams; the use cases in ``microhub.services`` (``vault``, ``consent``, ``backup``,
``retention``) call it. See ``docs/vault.md``.
"""

__all__: list[str] = []
