"""MQTT sources against real Mosquitto: Venus OS topics with keepalive, generic JSON, a broker
that disappears and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from typing import Any

from microhub.power.reading import Reading
from microhub.power.sources import Problem, SourceOptions
from microhub.power.watcher import Status, watch

OPTIONS = SourceOptions(timeout_s=5.0, keepalive_s=0.5)


def test_venus_topics_and_keepalive(shared_broker_port: int, topic: str, mqtt_publish: Any) -> None:
    """Venus battery topics become one reading per power update; the keepalive is published."""
    portal = topic.replace("/", "-")
    base = f"N/{portal}/battery/512"
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(shared_broker_port),
            "-t",
            f"R/{portal}/keepalive",
            "-C",
            "1",
            "-v",
            "-W",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    seen: list[str] = []

    async def main() -> list[Any]:
        stop = asyncio.Event()
        events: list[Any] = []

        async def feed() -> None:
            # the source sends its keepalive right after subscribing: then it is listening
            seen.append((await asyncio.to_thread(sub.communicate, None, 25))[0])
            for path, value in [
                ("Soc", 76.5),
                ("TimeToGo", None),
                ("Dc/0/Voltage", 25.9),
                ("Dc/0/Current", -4.2),
                ("Dc/0/Power", -108.0),
                ("Soc", 76.4),
                ("TimeToGo", 65535),
                ("Dc/0/Power", -110.0),
            ]:
                await asyncio.to_thread(
                    mqtt_publish, f"{base}/{path}", json.dumps({"value": value})
                )
            await asyncio.to_thread(mqtt_publish, f"{base}/Dc/0/Power", "not json")

        async def watcher() -> None:
            url = f"mqtt://127.0.0.1:{shared_broker_port}/venus/{portal}"
            async for event in watch(url, stop=stop, options=OPTIONS, initial_s=0.2, max_s=1.0):
                events.append(event)
                if any(isinstance(e, Problem) for e in events):
                    stop.set()

        feeder = asyncio.ensure_future(feed())
        await asyncio.wait_for(watcher(), 30)
        await feeder
        return events

    events = asyncio.run(main())
    keepalive = seen[0]
    got = [e for e in events if isinstance(e, Reading)]
    assert [r.watts for r in got] == [108.0, 110.0]
    assert got[0].soc == 76.5 and got[0].volts == 25.9 and got[0].amps == 4.2
    assert got[0].runtime_s is None
    assert got[1].runtime_s is None and any("65535" in why for why in got[1].rejected)
    assert keepalive.startswith(f"R/{portal}/keepalive")
    problem = next(e for e in events if isinstance(e, Problem))
    assert problem.kind == "bad_payload"


def test_json_topic_and_broker_that_disappears(broker: Any, topic: str) -> None:
    """Readings flow from a JSON topic; when the broker is killed the watcher reports the loss,
    retries with backoff, and reads again once the broker is back."""
    url = f"mqtt://127.0.0.1:{broker.port}/json/{topic}"
    state = {"phase": 0}

    async def main() -> list[Any]:
        stop = asyncio.Event()
        events: list[Any] = []

        async def feed() -> None:  # the device publishes every 0.2 s while the broker is up
            while not stop.is_set():
                if state["phase"] in (0, 2):
                    soc = 64 if state["phase"] == 0 else 63
                    payload = json.dumps({"soc": soc, "watts": 90, "volts": 12.9})
                    with contextlib.suppress(subprocess.CalledProcessError):
                        await asyncio.to_thread(broker.publish, topic, payload)
                await asyncio.sleep(0.2)

        async def watcher() -> None:
            async for event in watch(url, stop=stop, options=OPTIONS, initial_s=0.2, max_s=1.0):
                events.append(event)
                if state["phase"] == 0 and isinstance(event, Reading):
                    state["phase"] = 1
                    await asyncio.to_thread(broker.kill)
                elif state["phase"] == 1 and isinstance(event, Status) and event.kind == "lost":
                    state["phase"] = 2
                    await asyncio.to_thread(broker.start)
                elif state["phase"] == 2 and isinstance(event, Reading) and event.soc == 63:
                    stop.set()

        feeder = asyncio.ensure_future(feed())
        try:
            await asyncio.wait_for(watcher(), 30)
        finally:
            stop.set()
            await feeder
        return events

    events = asyncio.run(main())
    got = [e for e in events if isinstance(e, Reading)]
    assert got[0].soc == 64 and got[-1].soc == 63
    lost = [e for e in events if isinstance(e, Status) and e.kind == "lost"]
    assert lost and "MQTT broker" in lost[0].message
    assert all(e.retry_in_s is not None for e in lost)
