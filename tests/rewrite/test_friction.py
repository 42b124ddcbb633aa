from __future__ import annotations

from selflearn.rewrite.friction import CrowdFriction, scrub_user

APPOINTMENTS = "do i have any appointments today"


def _turns(
    text: str, users: list[str], followed: list[bool], start: float = 0.0
) -> list[tuple[str, str, float, bool]]:
    return [(text, u, start + i, f) for i, (u, f) in enumerate(zip(users, followed, strict=True))]


def test_a_request_most_people_had_to_say_again_is_unreliable() -> None:
    turns = _turns(APPOINTMENTS, ["a", "b", "c", "d"], [True, True, True, False])
    turns += _turns("what time is it", ["a", "b", "c", "d"], [False, True, False, False])
    fr = CrowdFriction(min_users=3, min_count=4, share_max=0.65).fit(turns)
    assert fr.unreliable(APPOINTMENTS)  # (3 + 0.5) / 5 = 0.7 > 0.65
    assert not fr.unreliable("what time is it")
    assert not fr.unreliable("never said")
    assert fr.published() == {APPOINTMENTS: ["a", "b", "c", "d"]}


def test_one_persons_retries_do_not_open_the_gate_for_others() -> None:
    # Five retries, all by one person: below the k distinct people the decision needs.
    fr = CrowdFriction(min_users=3, min_count=4).fit(_turns(APPOINTMENTS, ["a"] * 5, [True] * 5))
    assert not fr.unreliable(APPOINTMENTS) and fr.published() == {}
    two = CrowdFriction(min_users=3, min_count=4).fit(_turns(APPOINTMENTS, ["a", "b"] * 3, [True] * 6))
    assert not two.unreliable(APPOINTMENTS)


def test_judged_over_what_was_logged_before_a_time() -> None:
    fr = CrowdFriction(min_users=3, min_count=4).fit(
        _turns(APPOINTMENTS, ["a", "b", "c", "d", "e"], [True] * 5, start=10.0)
    )
    assert not fr.unreliable(APPOINTMENTS, before=10.0)  # nothing yet
    assert not fr.unreliable(APPOINTMENTS, before=13.0)  # three turns: too few to trust
    assert fr.unreliable(APPOINTMENTS, before=13.5)  # the fourth, at t=13, is in
    assert fr.unreliable(APPOINTMENTS)


def test_deleting_a_person_withdraws_their_support() -> None:
    published = {APPOINTMENTS: ["a", "b", "c", "d"], "lights please": ["a", "b", "c"]}
    assert scrub_user(published, "a", 3) == {APPOINTMENTS: ["b", "c", "d"]}
    assert scrub_user(published, "z", 3) == published
