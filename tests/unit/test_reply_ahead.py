"""ReplyAhead, the reply begun at a streamed turn's pause: begun in the background, stopped when the speaker goes on
or when the turn ends on other words, kept when it ends on the same ones, and not begun when the settings say not
to."""

from __future__ import annotations

import asyncio
import threading

from workbench.errors import ConfigurationError
from workbench.settings import Settings
from workbench.turns.voice import ReplyAhead, VoiceTurn


class Service:
    """Records each reply begun and its halt, and holds it until released (as a model generating would)."""

    def __init__(self, tmp_path, error: Exception | None = None, **settings) -> None:
        self.settings = Settings(_env_file=None, home=tmp_path, **settings)
        self.begun: list[tuple[str | None, threading.Event]] = []
        self.release = asyncio.Event()
        self.error = error

    async def think_ahead(self, turn: VoiceTurn, halt: threading.Event) -> int:
        self.begun.append((turn.text, halt))
        if self.error is not None:
            raise self.error
        await self.release.wait()
        return 3


def turn(text: str) -> VoiceTurn:
    return VoiceTurn(session_id="s", text=text)


async def settled() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_reply_is_begun_and_kept_when_the_turn_ends_on_its_words(tmp_path):
    service = Service(tmp_path)
    ahead = ReplyAhead(service)  # type: ignore[arg-type]
    ahead.begin(turn("Will it rain today?"))
    await settled()
    ahead.settle("Will it rain today?")
    ahead.stop()  # the socket closes while the turn's reply is still being begun: it is the turn's, not stopped
    service.release.set()
    await settled()
    [(text, halt)] = service.begun
    assert text == "Will it rain today?" and not halt.is_set()


async def test_speech_going_on_or_other_final_words_stop_it(tmp_path):
    service = Service(tmp_path)
    ahead = ReplyAhead(service)  # type: ignore[arg-type]
    ahead.begin(turn("Will it rain."))
    await settled()
    ahead.stop()  # the speaker went on
    ahead.begin(turn("Will it rain today?"))
    await settled()
    ahead.settle("Will it rain today in Paris?")
    service.release.set()
    await settled()
    assert [(text, halt.is_set()) for text, halt in service.begun] == [
        ("Will it rain.", True),
        ("Will it rain today?", True),
    ]


async def test_a_new_pause_replaces_the_reply_begun_at_the_last_one(tmp_path):
    service = Service(tmp_path)
    ahead = ReplyAhead(service)  # type: ignore[arg-type]
    ahead.begin(turn("Hello."))
    ahead.begin(turn("Hello. How are you?"))
    await settled()
    service.release.set()
    assert [halt.is_set() for _, halt in service.begun] == [True, False]


async def test_the_setting_turns_it_off(tmp_path):
    service = Service(tmp_path, reply_ahead=False)
    ReplyAhead(service).begin(turn("Will it rain today?"))  # type: ignore[arg-type]
    await settled()
    assert service.begun == []


async def test_a_failure_to_begin_is_left_to_the_turn(tmp_path):
    service = Service(tmp_path, error=ConfigurationError("unknown persona"))
    ahead = ReplyAhead(service)  # type: ignore[arg-type]
    ahead.begin(turn("Will it rain today?"))
    await settled()
    assert len(service.begun) == 1 and not ahead._tasks
