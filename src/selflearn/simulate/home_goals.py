"""The simulated home's goals as a goal source (`HomeGoals`), the simulator's default.

Each household gets a menu of goals its home can do (`simulate.goals.build_menu`) and each person
a short list of favourites on it; a session's goal is a favourite or a menu draw that makes sense
here and now. People say it in the grammar's words (`simulate.phrasing.PhrasingModel`, with
private names for things when `SimConfig.personal_share > 0`, `simulate.personal`), and a turn
is judged by its effect: the outcome must equal the one the goal's gold command has on a copy of
the home as it was before the turn. Failed turns are blamed on a stage by counterfactual replays
(`simulate.replay`).

A pick is the pair (goal, gold command). This was the body of `simulate.traffic.Simulator`'s
goal hooks, moved unchanged: every random number is drawn in the same order as before.
"""

from __future__ import annotations

import random

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState
from selflearn.contracts.actions import Command, Outcome
from selflearn.home.home import Home
from selflearn.simulate import sessions
from selflearn.simulate.config import SimConfig
from selflearn.simulate.goal_source import Attempt, GoalSourceBase, World
from selflearn.simulate.goals import Goal, GoalMenu, build_menu
from selflearn.simulate.phrasing import Phrasing, PhrasingModel
from selflearn.simulate.population import Endpoint, Household, User
from selflearn.simulate.replay import failed_stage, without_rewrite
from selflearn.simulate.truth import FailedStage, TruthRow
from selflearn.text.wer import word_error_rate

__all__ = ["HomeGoals", "HomePick"]

HomePick = tuple[Goal, Command]


class HomeGoals(GoalSourceBase[HomePick]):
    """Goals from each household's menu, said in the grammar's words, judged by their effect."""

    phrasing: PhrasingModel  # set by `attach` (seeded by the simulator's seed)

    def __init__(self) -> None:
        self.menus: dict[str, GoalMenu] = {}

    @property
    def config(self) -> SimConfig:
        return self.world.config

    def attach(self, world: World) -> None:
        """Build the menus and everyone's favourites (each household from a stream of its own)."""
        super().attach(world)
        config = world.config
        self.phrasing = PhrasingModel(seed=config.seed)
        for hh in world.households:
            mrng = random.Random(f"menu:{config.seed}:{hh.household_id}")
            menu = build_menu(
                hh.home, mrng, per_intent=config.goals_per_intent, intent_skew=config.intent_skew
            )
            self.menus[hh.household_id] = menu
            for u in hh.users:
                picks = {menu.sample(mrng).goal_key for _ in range(config.n_favourites * 2)}
                keys = [g.goal_key for g in menu.goals]
                u.favourite_goals = sorted(keys.index(k) for k in picks)[: config.n_favourites]
        if config.personal_share > 0:
            from selflearn.simulate.personal import attach

            attach(self)

    def pick_in_room(self, hh: Household, user: User, room: str, rng: random.Random) -> HomePick | None:
        """A favourite or a menu draw whose gold command the home can carry out in `room`."""
        menu = self.menus[hh.household_id]
        for _ in range(8):
            if user.favourite_goals and rng.random() < self.config.favourite_share:
                goal = menu.goals[rng.choice(user.favourite_goals)]
            else:
                goal = menu.sample(rng)
            cmd = goal.command(hh.home, room)
            # Only ask for what makes sense here and now (the home can do it).
            if hh.home.copy().apply(cmd).ok:
                return goal, cmd
        return None

    def pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> HomePick | None:
        return self.pick_in_room(hh, user, endpoint.room, rng)

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: HomePick, rng: random.Random
    ) -> HomePick | None:
        """A goal related to `previous` (same intent, or the same thing), or None."""
        goal, _gold = previous
        menu = self.menus[hh.household_id]
        for _ in range(4):
            other = sessions.related_menu_goal(menu.goals, goal, rng)
            if other is None:
                return None
            cmd = other.command(hh.home, endpoint.room)
            if hh.home.copy().apply(cmd).ok:
                return other, cmd
        return None

    def first_phrasing(self, user: User, picked: HomePick, rng: random.Random) -> Phrasing:
        goal, _gold = picked
        return self.phrasing.first(user, goal, rng)

    def retry_phrasing(
        self, user: User, picked: HomePick, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        goal, _gold = picked
        return self.phrasing.retry(user, goal, previous, attempt, rng)

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: HomePick,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        """Judge the turn against the gold command's effect on the same home; the truth row."""
        goal, gold = picked
        expected = before.copy().apply(gold)
        success = outcome is not None and outcome.same_effect(expected)
        turn = state.turn
        truth = TruthRow(
            turn_id=turn.turn_id,
            session_id=at.session_id,
            user_id=at.user.user_id,
            household_id=at.household.household_id,
            day=at.day,
            goal_id=at.goal_id,
            goal_intent=goal.intent,
            goal_args=goal.args_json(gold),
            spoken_text=phrasing.text,
            directed=True,
            is_request=True,
            attempt=at.attempt,
            strategy=phrasing.strategy,
            success=success,
            failed_stage=FailedStage.CORRECT
            if success
            else failed_stage(state, before, goal, gold, expected, assistant),
            wer=word_error_rate(phrasing.text, turn.asr.text),
            rewrite_fired=turn.rewrite is not None,
            success_without_rewrite=without_rewrite(state, before, expected, assistant)
            if turn.rewrite is not None
            else None,
        )
        return success, truth
