"""Payment methods. The built-ins register through the ``microhub.payments`` entry point group,
exactly as a third-party package (say, a card-terminal integration) would."""
