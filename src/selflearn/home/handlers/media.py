"""Speakers and TVs: volume, pause and resume, playing music (by artist or genre) and titles."""

from __future__ import annotations

from selflearn.contracts.actions import Change, Outcome
from selflearn.home.devices import Device, Kind
from selflearn.home.handlers.common import int_arg
from selflearn.home.search import HomeSearch
from selflearn.home.targets import act, fail, names, write
from selflearn.logs.records import StageError

__all__ = ["VOLUME_RANGE", "media"]

VOLUME_RANGE = (0, 10)


def media(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    if intent in ("volume_up", "volume_down", "volume_set"):
        lo, hi = VOLUME_RANGE
        level = int_arg(args, "level") if intent == "volume_set" else None
        if intent == "volume_set" and (level is None or not lo <= level <= hi):
            return fail(StageError.ACTION_FAILED, f"Sorry, the volume goes from {lo} to {hi}.")
        step = 1 if intent == "volume_up" else -1
        result: list[int] = []

        def vol(d: Device, ch: list[Change]) -> None:
            v = level if level is not None else min(hi, max(lo, int(d.state["volume"] or 0) + step))
            result.append(v)
            write(d, ch, volume=v)

        return act(home, intent, args, vol, lambda ds: f"Volume {result[0]} on {names(home, ds, args)}.")
    if intent in ("media_pause", "media_resume"):
        pause = intent == "media_pause"
        return act(
            home,
            intent,
            args,
            lambda d, ch: write(d, ch, paused=pause),
            lambda ds: "Paused." if pause else "Resuming.",
        )
    if intent == "play_music":
        artist, genre = args.get("artist"), args.get("genre")
        if artist is not None and artist not in home.catalog.artists:
            return fail(StageError.ACTION_FAILED, "Sorry, I couldn't find music by that artist.")
        if genre is not None and genre not in home.catalog.genres:
            return fail(StageError.ACTION_FAILED, f"Sorry, I don't have any {genre} music.")
        parts = [f"artist={artist}"] if artist else []
        parts += [f"genre={genre}"] if genre else []
        station = "station:" + (",".join(parts) or "mix")
        shown = {"rnb": "R&B", "hip hop": "hip hop"}.get(genre or "", genre)
        label = home.catalog.artists[artist] if artist else f"{shown} music" if genre else "some music"
        return act(home, intent, args, lambda d, ch: _play(d, ch, station), lambda ds: f"Playing {label}.")
    # play_media
    item = home.catalog.get(args["media_title"])
    if item is None:
        return fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that.")
    mt = args.get("media_type")
    if mt is not None and mt != item.type:
        return fail(StageError.ACTION_FAILED, f"Sorry, I couldn't find a {mt} called {item.title}.")
    return act(
        home,
        intent,
        args,
        lambda d, ch: _play(d, ch, item.media_id),
        lambda ds: f"Playing the {item.type} {item.title} on {names(home, ds, args)}.",
    )


def _play(d: Device, ch: list[Change], media: str) -> None:
    if d.kind is Kind.TV:
        write(d, ch, power=True)
    write(d, ch, playing=media, paused=False)
