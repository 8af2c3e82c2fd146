"""Power: plan the battery kit, read live telemetry, estimate runtime and warn before it runs out.

Pure maths (no I/O, no clock, no randomness of its own; enforced by an import-linter contract):

* :mod:`.kit`        the kit model and its validation (batteries, loads, schedules)
* :mod:`.energy`     usable energy: depth of discharge, health, temperature, inverter, Peukert
* :mod:`.plan`       expected draw, Monte Carlo runtime P10/P50/P90, shedding advice
* :mod:`.chart`      the expected state-of-charge chart as SVG text
* :mod:`.reading`    one telemetry sample and the device sentinels that are rejected
* :mod:`.estimator`  the live estimate: learned capacity, projected end, alerts
* :mod:`.loadtest`   the load-test summary (measured versus expected draw)
* :mod:`.backoff`    full-jitter exponential backoff delays

Edges (I/O):

* :mod:`.kitfile`    reading a kit file (TOML)
* :mod:`.sources`    the telemetry source port and one module per source (NUT, VE.Direct, MQTT)
* :mod:`.watcher`    reading a source forever: reconnects with backoff and says what happened
"""

__all__: list[str] = []
