"""Generic surface values for slots, as people say them: what training examples are filled with.

These are generic on purpose. A simulated household supplies its own room and device names at
run time (passing them to `render`); the lists here only have to cover the shapes of real values
(one word, several words, words that also mean something else, like "blinding lights" or
"light bulbs") so the NLU learns slot boundaries from the carrier words, not from memorised names.

Intents that share a slot type draw from the same pool (shopping_add, shopping_remove and purchase
share items; all light intents share light devices; alarms and reminders share times), so no
intent can be told from its slot value alone. Numbers are mostly spoken words ("seventy two")
with some digits ("72"), as a recogniser writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from selflearn.home import intents
from selflearn.home.intents import SlotType

_ONES: Final = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS: Final = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int) -> str:
    """Spell 0..999 the way people say it ("seventy two", "three hundred fifty")."""
    if not 0 <= n <= 999:
        raise ValueError(f"number_words supports 0..999, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    hundreds, rest = divmod(n, 100)
    head = f"{_ONES[hundreds]} hundred"
    return head if rest == 0 else f"{head} {number_words(rest)}"


def spoken_time(hour: int, minute: int) -> str:
    """A clock time ("07:30") as commonly said: "seven thirty am", "noon", "quarter past six".

    One canonical rendering per time; the lexicon's TIMES list adds the other ways of saying one.
    """
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"not a clock time: {hour:02d}:{minute:02d}")
    if minute == 0 and hour == 12:
        return "noon"
    if minute == 0 and hour == 0:
        return "midnight"
    suffix = "am" if hour < 12 else "pm"
    h12 = hour % 12 or 12
    if minute == 0:
        return f"{number_words(h12)} {suffix}"
    if minute == 15:
        return f"quarter past {number_words(h12)}"
    if minute == 30:
        return f"{number_words(h12)} thirty {suffix}"
    if minute == 45:
        return f"quarter to {number_words(h12 % 12 + 1)}"
    mins = f"oh {number_words(minute)}" if minute < 10 else number_words(minute)
    return f"{number_words(h12)} {mins} {suffix}"


def spoken_duration(seconds: int) -> str:
    """A duration in seconds as said: "ten minutes", "an hour", "an hour and a half"."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}")
    if seconds == 1800:
        return "half an hour"
    if seconds == 5400:
        return "an hour and a half"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    for amount, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if amount == 1:
            parts.append(f"{'an' if unit == 'hour' else 'one'} {unit}")
        elif amount > 1:
            parts.append(f"{number_words(amount)} {unit}s")
    return " and ".join(parts)


def _spoken(numbers: Iterable[int], digits: Iterable[int] = ()) -> tuple[str, ...]:
    """Word forms for all numbers plus digit forms for a few: recognisers write both."""
    return tuple(number_words(n) for n in numbers) + tuple(str(n) for n in digits)


ROOMS: Final = (
    "kitchen", "living room", "bedroom", "master bedroom", "bathroom", "office", "dining room",
    "hallway", "basement", "guest room", "kids room", "nursery", "den", "family room",
    "laundry room", "study", "attic", "playroom", "sunroom", "mudroom",
)  # fmt: skip

LIGHT_DEVICES: Final = (
    "lights", "light", "ceiling light", "floor lamp", "lamp", "desk lamp", "overhead light",
    "reading light", "bedside lamp", "string lights", "pendant lights", "light strip",
    "chandelier", "night light", "porch light", "lamps", "recessed lights", "vanity light",
)  # fmt: skip
MEDIA_DEVICES: Final = (
    "tv", "television", "speaker", "smart speaker", "soundbar", "stereo", "radio",
    "sound system", "echo", "sonos", "record player", "home theater",
)  # fmt: skip
LOCK_DEVICES: Final = (
    "front door", "back door", "side door", "patio door", "front door lock", "back door lock",
    "deadbolt", "door", "basement door", "gate",
)  # fmt: skip
SENSOR_DEVICES: Final = (
    "oven", "fridge", "freezer", "hot tub", "wine fridge", "water heater", "pool", "smoker",
)  # fmt: skip
# device_status asks about anything that can be on/off, open/closed or locked.
STATUS_DEVICES: Final = (
    "garage door", "front door", "back door", "oven", "lights", "porch light", "tv",
    "coffee maker", "dishwasher", "washing machine", "dryer", "sprinklers", "space heater",
    "floor lamp", "deadbolt", "window", "iron",
)  # fmt: skip
DEVICES: Final = tuple(
    dict.fromkeys(LIGHT_DEVICES + MEDIA_DEVICES + LOCK_DEVICES + SENSOR_DEVICES + STATUS_DEVICES)
)

COLORS: Final = (
    "red", "blue", "green", "purple", "orange", "yellow", "pink", "warm white", "cool white",
    "soft white", "teal", "lavender", "turquoise", "gold", "magenta", "daylight", "light blue",
    "dark blue", "amber", "white",
)  # fmt: skip

BRIGHTNESS: Final = _spoken(range(5, 101, 5), digits=(10, 25, 40, 50, 75, 100))
ROOM_TEMPERATURES: Final = _spoken(range(60, 86), digits=(65, 68, 70, 72, 74, 78))
OVEN_TEMPERATURES: Final = (
    "three fifty", "three seventy five", "four hundred", "four twenty five", "four fifty",
    "three twenty five", "three hundred", "two fifty", "three hundred fifty",
    "four hundred and twenty five", "five hundred", "two twenty five", "350", "375", "400", "425",
)  # fmt: skip
VOLUME_LEVELS: Final = _spoken(range(0, 11), digits=(3, 5, 7))
NUMBERS: Final = _spoken(range(0, 101), digits=(5, 10, 20, 25, 50, 72, 75, 100))

TIMES: Final = (
    "seven am", "seven thirty am", "half past six", "six thirty pm", "noon", "midnight",
    "eight o'clock", "quarter to nine", "quarter past seven", "nine pm", "ten fifteen",
    "five forty five am", "6:30", "7 am", "6:45 am", "eleven thirty", "six in the morning",
    "three in the afternoon", "8 pm", "nine thirty", "five am", "two pm",
    "twelve thirty", "ten pm", "seven oh five", "four o'clock",
)  # fmt: skip
DURATIONS: Final = (
    "ten minutes", "five minutes", "an hour", "half an hour", "thirty seconds", "ninety seconds",
    "twenty five minutes", "two hours", "one minute", "15 minutes", "three minutes",
    "forty five minutes", "an hour and a half", "1 hour", "eight minutes", "twelve minutes",
    "twenty minutes", "a minute and a half", "45 seconds", "seven minutes",
)  # fmt: skip
# Dates carry their own preposition where one is needed ("on friday"), so templates write
# "... {date}" and never "on {date}".
DATES: Final = (
    "today", "tomorrow", "tonight", "this weekend", "the day after tomorrow", "this afternoon",
    "on monday", "on tuesday", "on wednesday", "on thursday", "on friday", "on saturday",
    "on sunday", "tomorrow morning", "next week",
)  # fmt: skip
ALARM_DATES: Final = (
    "today", "tomorrow", "the day after tomorrow", "on monday", "on tuesday", "on wednesday",
    "on thursday", "on friday", "on saturday", "on sunday", "tomorrow morning",
)  # fmt: skip

AMBIGUOUS_CITIES: Final = (
    "wilkerson", "springfield", "portland", "columbus", "jackson", "salem", "madison",
    "aurora", "richmond", "paris", "dublin", "kansas city",
)  # fmt: skip
CITIES: Final = (
    *AMBIGUOUS_CITIES,
    "boston", "seattle", "chicago", "denver", "austin", "miami", "new york", "san francisco",
    "los angeles", "atlanta", "phoenix", "london", "toronto", "new orleans", "salt lake city",
)  # fmt: skip

# Titles by canonical media type; some titles exist as several types ("harry potter" is a movie
# and an audiobook), which is what makes media resolution hard in real life.
MEDIA_TITLES_BY_TYPE: Final[Mapping[str, tuple[str, ...]]] = {
    "song": (
        "bohemian rhapsody", "hotel california", "shake it off", "hey jude", "blinding lights",
        "here comes the sun", "africa", "wonderwall", "let it be", "dancing queen",
        "sweet caroline", "rolling in the deep",
    ),
    "movie": (
        "the hunger games", "harry potter", "frozen", "the lion king", "toy story",
        "jurassic park", "star wars", "the matrix", "finding nemo", "top gun", "inception",
        "the princess bride",
    ),
    "audiobook": (
        "harry potter", "the hunger games", "the hobbit", "pride and prejudice", "becoming",
        "dune", "the martian", "atomic habits", "where the crawdads sing", "little women",
    ),
    "podcast": (
        "the daily", "serial", "radiolab", "this american life", "planet money",
        "stuff you should know", "hidden brain",
    ),
    "album": ("abbey road", "thriller", "rumours", "back in black", "nevermind", "folklore", "1989"),
}  # fmt: skip
# Surface words for each canonical media type.
MEDIA_TYPE_WORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "song": ("song", "track"),
    "movie": ("movie", "film"),
    "audiobook": ("audiobook", "book"),
    "podcast": ("podcast",),
    "album": ("album", "record"),
}
MEDIA_TITLES: Final = tuple(dict.fromkeys(t for ts in MEDIA_TITLES_BY_TYPE.values() for t in ts))
MEDIA_TYPES: Final = tuple(w for ws in MEDIA_TYPE_WORDS.values() for w in ws)

GENRES: Final = (
    "jazz", "classical", "rock", "hip hop", "country", "pop", "blues", "reggae", "lo fi",
    "r and b", "heavy metal", "folk", "electronic", "indie rock", "soul", "punk", "disco",
    "bluegrass", "christmas", "eighties",
)  # fmt: skip
ARTISTS: Final = (
    "taylor swift", "the beatles", "miles davis", "adele", "drake", "beyonce", "queen",
    "ed sheeran", "johnny cash", "bob marley", "coldplay", "frank sinatra", "billie eilish",
    "the rolling stones", "kendrick lamar", "dolly parton", "norah jones", "prince",
)  # fmt: skip

# Things to buy: shared by shopping_add, shopping_remove and purchase.
SHOPPING_ITEMS: Final = (
    "milk", "eggs", "bread", "paper towels", "bananas", "coffee beans", "dish soap",
    "toilet paper", "batteries", "olive oil", "peanut butter", "dog food", "laundry detergent",
    "orange juice", "chicken breasts", "cereal", "shampoo", "trash bags", "light bulbs",
    "ice cream", "tomatoes", "almond milk", "sparkling water", "printer ink", "coffee filters",
    "frozen pizza", "cat litter", "butter", "apples", "toothpaste",
)  # fmt: skip
# Things to do: reminder text. Several overlap other intents' words on purpose ("lock the back
# door", "check the oven", "buy milk"), as real reminders do.
REMINDER_ITEMS: Final = (
    "call mom", "take out the trash", "pick up the kids", "water the plants",
    "pay the electric bill", "take my medicine", "feed the dog", "check the oven",
    "lock the back door", "turn off the sprinklers", "buy milk", "move the car",
    "book a dentist appointment", "call the plumber", "send the report", "bring in the laundry",
    "start the dishwasher", "defrost the chicken", "charge my phone", "renew my passport",
)  # fmt: skip
ITEMS: Final = SHOPPING_ITEMS + REMINDER_ITEMS

TEAMS: Final = (
    "yankees", "red sox", "lakers", "warriors", "patriots", "cowboys", "packers", "cubs",
    "dodgers", "celtics", "bulls", "seahawks", "giants", "chiefs", "eagles", "mariners",
    "knicks", "trail blazers",
)  # fmt: skip
CUISINES: Final = (
    "italian", "mexican", "chinese", "thai", "indian", "japanese", "sushi", "pizza", "korean",
    "vietnamese", "greek", "french", "ethiopian", "mediterranean", "vegan", "seafood",
    "barbecue", "ramen", "middle eastern", "spanish",
)  # fmt: skip

BY_TYPE: Final[Mapping[SlotType, tuple[str, ...]]] = {
    SlotType.DEVICE: DEVICES,
    SlotType.ROOM: ROOMS,
    SlotType.NUMBER: NUMBERS,
    SlotType.COLOR: COLORS,
    SlotType.TIME: TIMES,
    SlotType.DURATION: DURATIONS,
    SlotType.DATE: DATES,
    SlotType.CITY: CITIES,
    SlotType.MEDIA_TITLE: MEDIA_TITLES,
    SlotType.MEDIA_TYPE: MEDIA_TYPES,
    SlotType.GENRE: GENRES,
    SlotType.ARTIST: ARTISTS,
    SlotType.ITEM: ITEMS,
    SlotType.TEAM: TEAMS,
    SlotType.CUISINE: CUISINES,
}

_LIGHTS: Final = (
    "lights_on", "lights_off", "lights_dim", "lights_brighten", "lights_set_brightness", "lights_set_color",
)  # fmt: skip
_MEDIA: Final = (
    "volume_up", "volume_down", "volume_set", "media_pause", "media_resume", "play_music", "play_media",
)  # fmt: skip

# (intent, slot) -> pool, where a slot's sensible values depend on the intent. Everything else
# falls back to BY_TYPE.
_BY_INTENT_SLOT: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    **{(i, "device"): LIGHT_DEVICES for i in _LIGHTS},
    **{(i, "device"): MEDIA_DEVICES for i in _MEDIA},
    ("temperature_query", "device"): SENSOR_DEVICES,
    ("door_lock", "device"): LOCK_DEVICES,
    ("door_unlock", "device"): LOCK_DEVICES,
    ("device_status", "device"): STATUS_DEVICES,
    ("lights_set_brightness", "brightness"): BRIGHTNESS,
    ("thermostat_set", "temperature"): ROOM_TEMPERATURES,
    ("oven_preheat", "temperature"): OVEN_TEMPERATURES,
    ("volume_set", "level"): VOLUME_LEVELS,
    ("reminder_create", "item"): REMINDER_ITEMS,
    ("shopping_add", "item"): SHOPPING_ITEMS,
    ("shopping_remove", "item"): SHOPPING_ITEMS,
    ("purchase", "item"): SHOPPING_ITEMS,
    ("alarm_set", "date"): ALARM_DATES,
}


def values_for(intent: str, slot: str) -> tuple[str, ...]:
    """Surface values that fit `slot` of `intent` (light names for lights, oven temperatures for
    preheating, ...); the generic pool for the slot's type otherwise."""
    spec = intents.get(intent).slot(slot)
    if spec is None:
        raise KeyError(f"intent {intent!r} has no slot {slot!r}")
    return _BY_INTENT_SLOT.get((intent, slot), BY_TYPE[spec.type])
