"""The world outside the home that queries read: sports teams and their last results, restaurants
by cuisine, and the simulated clock. Everything is a pure function of its inputs (team and day,
place and cuisine) so equal queries give equal answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from selflearn.contracts.domain import Team
from selflearn.lexicon.indexes import cuisine_index, team_index
from selflearn.text.matching import Match, NameIndex


def stable_hash(text: str) -> int:
    """A well-mixed 64-bit hash that is the same in every process (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class GameResult:
    team_id: str
    opponent_id: str
    day: date
    score: int
    opponent_score: int

    @property
    def key(self) -> str:
        score = f"{self.score}-{self.opponent_score}"
        return f"score:{self.team_id}:{self.day.isoformat()}:{score}:{self.opponent_id}"


def _t(tid: str, city: str, nick: str, league: str, pop: int, *aliases: str) -> Team:
    return Team(tid, city, nick, league, pop, aliases)


# Nicknames shared across leagues (Giants, Rangers, Cardinals, Kings) make "how did the Giants do"
# ambiguous.
TEAMS: tuple[Team, ...] = (
    _t("seattle_seahawks", "Seattle", "Seahawks", "nfl", 70, "hawks"),
    _t("seattle_mariners", "Seattle", "Mariners", "mlb", 55, "m's"),
    _t("seattle_sounders", "Seattle", "Sounders", "mls", 45),
    _t("seattle_kraken", "Seattle", "Kraken", "nhl", 40),
    _t("chicago_bulls", "Chicago", "Bulls", "nba", 70),
    _t("chicago_cubs", "Chicago", "Cubs", "mlb", 65),
    _t("chicago_bears", "Chicago", "Bears", "nfl", 65),
    _t("boston_red_sox", "Boston", "Red Sox", "mlb", 70, "sox"),
    _t("boston_celtics", "Boston", "Celtics", "nba", 70),
    _t("new_england_patriots", "New England", "Patriots", "nfl", 70, "pats"),
    _t("new_york_yankees", "New York", "Yankees", "mlb", 80),
    _t("new_york_knicks", "New York", "Knicks", "nba", 65),
    _t("new_york_giants", "New York", "Giants", "nfl", 65),
    _t("san_francisco_giants", "San Francisco", "Giants", "mlb", 60),
    _t("new_york_rangers", "New York", "Rangers", "nhl", 55),
    _t("texas_rangers", "Texas", "Rangers", "mlb", 55),
    _t("st_louis_cardinals", "St. Louis", "Cardinals", "mlb", 60, "saint louis cardinals"),
    _t("arizona_cardinals", "Arizona", "Cardinals", "nfl", 50),
    _t("los_angeles_kings", "Los Angeles", "Kings", "nhl", 45, "la kings"),
    _t("sacramento_kings", "Sacramento", "Kings", "nba", 45),
    _t("los_angeles_lakers", "Los Angeles", "Lakers", "nba", 85, "la lakers"),
    _t("los_angeles_dodgers", "Los Angeles", "Dodgers", "mlb", 75, "la dodgers"),
    _t("golden_state_warriors", "Golden State", "Warriors", "nba", 75, "dubs"),
    _t("dallas_cowboys", "Dallas", "Cowboys", "nfl", 80),
    _t("green_bay_packers", "Green Bay", "Packers", "nfl", 70),
    _t("kansas_city_chiefs", "Kansas City", "Chiefs", "nfl", 75),
    _t("miami_heat", "Miami", "Heat", "nba", 60),
    _t("denver_broncos", "Denver", "Broncos", "nfl", 60),
    _t("portland_trail_blazers", "Portland", "Trail Blazers", "nba", 50, "blazers"),
    _t("atlanta_braves", "Atlanta", "Braves", "mlb", 60),
    _t("detroit_lions", "Detroit", "Lions", "nfl", 60),
    _t("philadelphia_eagles", "Philadelphia", "Eagles", "nfl", 70),
)

# Typical points per side, by league: (base, spread).
_SCORING = {"nfl": (10, 28), "nba": (92, 35), "mlb": (1, 9), "nhl": (0, 6), "mls": (0, 4)}

CUISINES: tuple[str, ...] = (
    "italian", "chinese", "mexican", "thai", "indian", "japanese", "french", "greek", "korean",
    "vietnamese", "american", "mediterranean", "pizza", "sushi", "barbecue", "seafood",
)  # fmt: skip
CUISINE_WORDS: dict[str, str] = {
    "bbq": "barbecue", "barbeque": "barbecue", "burgers": "american", "burger": "american",
    "pizzeria": "pizza", "pasta": "italian", "tacos": "mexican", "taco": "mexican", "curry": "indian",
    "ramen": "japanese", "noodles": "chinese", "dim sum": "chinese", "pho": "vietnamese", "fish": "seafood",
}  # fmt: skip
_RESTAURANT_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "italian": (("Trattoria", "Osteria", "Cucina", "Bella"), ("Roma", "Toscana", "Napoli", "Milano")),
    "chinese": (("Golden", "Jade", "Red", "Lucky"), ("Dragon", "Panda", "Lantern", "Garden")),
    "mexican": (("El", "La", "Casa", "Los"), ("Toro", "Cantina", "Sol", "Amigos")),
    "thai": (("Thai", "Siam", "Bangkok", "Lotus"), ("Orchid", "Basil", "Spice", "Kitchen")),
    "indian": (("Taj", "Tandoor", "Bombay", "Masala"), ("Palace", "House", "Garden", "Grill")),
    "japanese": (("Sakura", "Kyoto", "Tokyo", "Zen"), ("House", "Kitchen", "Grill", "Bistro")),
    "french": (("Le", "La", "Chez", "Petit"), ("Bistro", "Jardin", "Marcel", "Cafe")),
    "greek": (("Olympus", "Athena", "Santorini", "Zorba"), ("Taverna", "Grill", "Kitchen", "Cafe")),
    "korean": (("Seoul", "Gangnam", "Kimchi", "Bulgogi"), ("House", "Grill", "BBQ", "Kitchen")),
    "vietnamese": (("Saigon", "Pho", "Hanoi", "Lotus"), ("Bistro", "House", "Corner", "Kitchen")),
    "american": (("Main Street", "Liberty", "Route 66", "Hometown"), ("Diner", "Grill", "Burgers", "Tavern")),
    "mediterranean": (("Olive", "Cedar", "Sea", "Fig"), ("Tree", "Table", "House", "Grill")),
    "pizza": (("Tony's", "Slice", "Brick Oven", "Mama's"), ("Pizza", "Pizzeria", "Pies", "Pizza Co")),
    "sushi": (("Sushi", "Umi", "Koi", "Maki"), ("Bar", "House", "Station", "Go")),
    "barbecue": (("Smoky", "Big", "Hickory", "Lone Star"), ("Pit", "Joe's BBQ", "Smokehouse", "Ribs")),
    "seafood": (("Harbor", "Anchor", "Pier", "Blue"), ("Fish House", "Oyster Bar", "Crab Shack", "Catch")),
}


# Things people put on shopping lists or order, and things they ask to be reminded of.
GROCERIES: tuple[str, ...] = (
    "milk", "eggs", "bread", "butter", "cheese", "apples", "bananas", "coffee", "tea", "rice", "pasta",
    "tomatoes", "onions", "potatoes", "chicken", "orange juice", "yogurt", "cereal", "toilet paper",
    "paper towels", "dish soap", "laundry detergent", "batteries", "light bulbs", "olive oil", "flour",
    "sugar", "peanut butter", "dog food", "cat food", "diapers", "shampoo", "toothpaste", "ice cream",
)  # fmt: skip
REMINDER_TEXTS: tuple[str, ...] = (
    "call mom", "take out the trash", "water the plants", "pick up the kids", "take my medicine",
    "pay the rent", "walk the dog", "feed the cat", "call the dentist", "buy a birthday card",
    "move the car", "check the oven", "start the laundry", "charge my phone", "book a haircut",
)  # fmt: skip


class World:
    """Teams with deterministic last results and restaurants by (place, cuisine)."""

    def __init__(self, teams: tuple[Team, ...] = TEAMS) -> None:
        self.teams = teams
        self.by_id = {t.team_id: t for t in teams}

    @cached_property
    def team_index(self) -> NameIndex:
        return team_index(self.teams)

    @cached_property
    def cuisine_index(self) -> NameIndex:
        return cuisine_index(CUISINES, CUISINE_WORDS)

    def find_team(self, name: str, prefer: tuple[str, ...] = (), limit: int = 5) -> list[Match]:
        """Teams matching a name; equal scores ordered by `prefer` (favourite team, home-city teams),
        then popularity."""
        matches = self.team_index.match(name, limit=limit * 2)

        def key(m: Match) -> tuple[float, int, int, str]:
            rank = prefer.index(m.key) if m.key in prefer else len(prefer)
            return (-round(m.score, 3), rank, -self.by_id[m.key].popularity, m.key)

        return sorted(matches, key=key)[:limit]

    def last_result(self, team_id: str, today: date) -> GameResult:
        """The team's most recent game on or before yesterday, a pure function of (team, today)."""
        team = self.by_id[team_id]
        h = stable_hash(f"{team_id}|{today.isoformat()}")
        day = today - timedelta(days=1 + h % 3)
        rivals = [t for t in self.teams if t.league == team.league and t.team_id != team_id]
        rival = rivals[(h >> 3) % len(rivals)] if rivals else team
        base, spread = _SCORING[team.league]
        s1 = base + (h >> 8) % spread
        s2 = base + (h >> 16) % spread
        if s1 == s2 and team.league in ("nba", "mlb"):
            s1 += 1  # no ties in these leagues
        return GameResult(team_id, rival.team_id, day, s1, s2)

    def restaurants(self, place_id: str, cuisine: str, n: int = 3) -> list[str]:
        """`n` restaurant names for a cuisine in a place (any cuisine when `cuisine` is 'any')."""
        names: list[str] = []
        cuisines = list(_RESTAURANT_PARTS) if cuisine == "any" else [cuisine]
        i = 0
        while len(names) < n and i < 64:
            c = cuisines[stable_hash(f"{place_id}|{cuisine}|c{i}") % len(cuisines)]
            first, second = _RESTAURANT_PARTS[c]
            h = stable_hash(f"{place_id}|{c}|{i}")
            name = f"{first[h % len(first)]} {second[(h >> 4) % len(second)]}"
            if name not in names:
                names.append(name)
            i += 1
        return names


class Clock:
    """Simulated wall clock: the simulator sets and advances it and copies `now` into the home."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, seconds: float) -> datetime:
        self.now = self.now + timedelta(seconds=seconds)
        return self.now
