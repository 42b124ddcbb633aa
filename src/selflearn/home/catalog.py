"""The media catalog: songs (with artist and genre), albums, movies, audiobooks and podcasts.

Several titles exist as more than one type ("Harry Potter" is a movie and an audiobook, "Dune" a
movie, an audiobook and a soundtrack album, "Thriller" a song and an album): a request that names
only the title is ambiguous, and which item the assistant picks is something the self-learning
loop can learn to fix. Ties are broken by `popularity`, deterministically.
"""

from __future__ import annotations

import re
from enum import StrEnum

from selflearn.contracts.domain import MediaItem
from selflearn.lexicon.catalog import MediaCatalog
from selflearn.text.matching import norm_name


class MediaType(StrEnum):
    SONG = "song"
    ALBUM = "album"
    MOVIE = "movie"
    AUDIOBOOK = "audiobook"
    PODCAST = "podcast"


# What people say for each media type.
MEDIA_TYPE_WORDS: dict[str, MediaType] = {
    "song": MediaType.SONG, "track": MediaType.SONG, "tune": MediaType.SONG, "single": MediaType.SONG,
    "album": MediaType.ALBUM, "record": MediaType.ALBUM, "soundtrack": MediaType.ALBUM, "lp": MediaType.ALBUM,
    "movie": MediaType.MOVIE, "film": MediaType.MOVIE, "flick": MediaType.MOVIE, "video": MediaType.MOVIE,
    "audiobook": MediaType.AUDIOBOOK, "audio book": MediaType.AUDIOBOOK, "book": MediaType.AUDIOBOOK,
    "audiobooks": MediaType.AUDIOBOOK, "novel": MediaType.AUDIOBOOK,
    "podcast": MediaType.PODCAST, "podcasts": MediaType.PODCAST, "show": MediaType.PODCAST,
    "songs": MediaType.SONG, "movies": MediaType.MOVIE, "albums": MediaType.ALBUM,
}  # fmt: skip

# Genre words people use, mapped to the catalog's canonical genre.
GENRE_WORDS: dict[str, str] = {
    "hip hop": "hip hop", "hiphop": "hip hop", "rap": "hip hop",
    "r and b": "rnb", "rnb": "rnb", "r n b": "rnb", "rhythm and blues": "rnb",
    "classic": "classical", "classical music": "classical", "rock and roll": "rock", "rock n roll": "rock",
    "classic rock": "rock", "heavy metal": "metal", "edm": "electronic", "dance": "electronic",
    "dance music": "electronic", "techno": "electronic", "country music": "country", "western": "country",
}  # fmt: skip


def slug(text: str) -> str:
    return re.sub(r"\s+", "_", norm_name(text))


# (title, artist, genre, popularity, aliases)
_SONGS: list[tuple[str, str, str, int, tuple[str, ...]]] = [
    ("Shape of You", "Ed Sheeran", "pop", 80, ()),
    ("Perfect", "Ed Sheeran", "pop", 70, ()),
    ("Thinking Out Loud", "Ed Sheeran", "pop", 65, ()),
    ("Bad Guy", "Billie Eilish", "pop", 75, ()),
    ("Ocean Eyes", "Billie Eilish", "pop", 55, ()),
    ("Shake It Off", "Taylor Swift", "pop", 80, ()),
    ("Anti-Hero", "Taylor Swift", "pop", 75, ("antihero",)),
    ("Blank Space", "Taylor Swift", "pop", 70, ()),
    ("Halo", "Beyoncé", "pop", 70, ()),
    ("Single Ladies", "Beyoncé", "pop", 70, ()),
    ("Crazy in Love", "Beyoncé", "rnb", 75, ()),
    ("Rolling in the Deep", "Adele", "pop", 80, ()),
    ("Hello", "Adele", "pop", 75, ()),
    ("Someone Like You", "Adele", "pop", 70, ()),
    ("Thriller", "Michael Jackson", "pop", 70, ()),
    ("Billie Jean", "Michael Jackson", "pop", 80, ()),
    ("Like a Prayer", "Madonna", "pop", 65, ()),
    ("Frozen", "Madonna", "pop", 40, ()),
    ("Levitating", "Dua Lipa", "pop", 70, ()),
    ("Blinding Lights", "The Weeknd", "pop", 85, ()),
    ("My Heart Will Go On", "Celine Dion", "pop", 65, ()),
    ("Purple Rain", "Prince", "rock", 65, ()),
    ("Yesterday", "The Beatles", "rock", 70, ()),
    ("Let It Be", "The Beatles", "rock", 75, ()),
    ("Hey Jude", "The Beatles", "rock", 75, ()),
    ("Bohemian Rhapsody", "Queen", "rock", 75, ()),
    ("Don't Stop Me Now", "Queen", "rock", 70, ()),
    ("We Will Rock You", "Queen", "rock", 70, ()),
    ("Smells Like Teen Spirit", "Nirvana", "rock", 70, ()),
    ("Back in Black", "AC/DC", "rock", 60, ()),
    ("Yellow", "Coldplay", "rock", 65, ()),
    ("Viva la Vida", "Coldplay", "rock", 70, ()),
    ("Fix You", "Coldplay", "rock", 60, ()),
    ("Clocks", "Coldplay", "rock", 55, ()),
    ("Rocket Man", "Elton John", "rock", 60, ()),
    ("Uptown Girl", "Billy Joel", "rock", 55, ()),
    ("Gravity", "John Mayer", "blues", 45, ()),
    ("Enter Sandman", "Metallica", "metal", 65, ()),
    ("Nothing Else Matters", "Metallica", "metal", 65, ()),
    ("Paranoid", "Black Sabbath", "metal", 55, ()),
    ("Iron Man", "Black Sabbath", "metal", 50, ()),
    ("So What", "Miles Davis", "jazz", 55, ()),
    ("Blue in Green", "Miles Davis", "jazz", 45, ()),
    ("Take Five", "Dave Brubeck", "jazz", 55, ()),
    ("Giant Steps", "John Coltrane", "jazz", 45, ()),
    ("My Favorite Things", "John Coltrane", "jazz", 45, ()),
    ("Don't Know Why", "Norah Jones", "jazz", 60, ()),
    ("Come Away with Me", "Norah Jones", "jazz", 55, ()),
    ("Fly Me to the Moon", "Frank Sinatra", "jazz", 65, ()),
    ("What a Wonderful World", "Louis Armstrong", "jazz", 70, ()),
    ("Moonlight Sonata", "Ludwig van Beethoven", "classical", 60, ()),
    ("Für Elise", "Ludwig van Beethoven", "classical", 60, ("fur elise", "for elise")),
    ("Fifth Symphony", "Ludwig van Beethoven", "classical", 55, ("symphony number five",)),
    ("Eine kleine Nachtmusik", "Wolfgang Amadeus Mozart", "classical", 50, ()),
    ("The Four Seasons", "Antonio Vivaldi", "classical", 55, ()),
    ("Clair de Lune", "Claude Debussy", "classical", 55, ()),
    ("Canon in D", "Johann Pachelbel", "classical", 55, ()),
    ("Air on the G String", "Johann Sebastian Bach", "classical", 45, ()),
    ("Jolene", "Dolly Parton", "country", 65, ()),
    ("Nine to Five", "Dolly Parton", "country", 60, ("nine to 5", "9 to 5")),
    ("Ring of Fire", "Johnny Cash", "country", 60, ()),
    ("Hurt", "Johnny Cash", "country", 50, ()),
    ("Friends in Low Places", "Garth Brooks", "country", 55, ()),
    ("Before He Cheats", "Carrie Underwood", "country", 55, ()),
    ("Tennessee Whiskey", "Chris Stapleton", "country", 60, ()),
    ("Humble", "Kendrick Lamar", "hip hop", 70, ()),
    ("Alright", "Kendrick Lamar", "hip hop", 60, ()),
    ("God's Plan", "Drake", "hip hop", 75, ()),
    ("Hotline Bling", "Drake", "hip hop", 70, ()),
    ("Lose Yourself", "Eminem", "hip hop", 75, ()),
    ("Stan", "Eminem", "hip hop", 55, ()),
    ("Juicy", "The Notorious B.I.G.", "hip hop", 55, ()),
    ("Sicko Mode", "Travis Scott", "hip hop", 60, ()),
    ("No Scrubs", "TLC", "rnb", 55, ()),
    ("Redbone", "Childish Gambino", "rnb", 60, ()),
    ("Superstition", "Stevie Wonder", "soul", 65, ()),
    ("Respect", "Aretha Franklin", "soul", 65, ()),
    ("Let's Stay Together", "Al Green", "soul", 55, ()),
    ("Get Lucky", "Daft Punk", "electronic", 70, ()),
    ("One More Time", "Daft Punk", "electronic", 65, ()),
    ("Titanium", "David Guetta", "electronic", 60, ()),
    ("Levels", "Avicii", "electronic", 60, ()),
    ("Wake Me Up", "Avicii", "electronic", 65, ()),
    ("One Love", "Bob Marley", "reggae", 65, ()),
    ("Three Little Birds", "Bob Marley", "reggae", 70, ()),
    ("Redemption Song", "Bob Marley", "reggae", 60, ()),
    ("Israelites", "Desmond Dekker", "reggae", 40, ()),
    ("The Thrill Is Gone", "B.B. King", "blues", 55, ()),
    ("Pride and Joy", "Stevie Ray Vaughan", "blues", 50, ()),
    ("Hoochie Coochie Man", "Muddy Waters", "blues", 45, ()),
    ("Blowin' in the Wind", "Bob Dylan", "folk", 60, ()),
    ("Fast Car", "Tracy Chapman", "folk", 65, ()),
    ("Big Yellow Taxi", "Joni Mitchell", "folk", 50, ()),
    ("Hallelujah", "Leonard Cohen", "folk", 65, ()),
]

# (title, artist, genre, popularity, aliases)
_ALBUMS: list[tuple[str, str, str, int, tuple[str, ...]]] = [
    ("Thriller", "Michael Jackson", "pop", 60, ()),
    ("Purple Rain", "Prince", "rock", 55, ()),
    ("Abbey Road", "The Beatles", "rock", 65, ()),
    ("Nevermind", "Nirvana", "rock", 55, ()),
    ("Back in Black", "AC/DC", "rock", 55, ()),
    ("Rumours", "Fleetwood Mac", "rock", 65, ("rumors",)),
    ("The Dark Side of the Moon", "Pink Floyd", "rock", 65, ("dark side of the moon",)),
    ("Kind of Blue", "Miles Davis", "jazz", 55, ()),
    ("A Love Supreme", "John Coltrane", "jazz", 45, ()),
    ("Come Away with Me", "Norah Jones", "jazz", 45, ()),
    ("Lemonade", "Beyoncé", "rnb", 60, ()),
    ("To Pimp a Butterfly", "Kendrick Lamar", "hip hop", 50, ()),
    ("Random Access Memories", "Daft Punk", "electronic", 55, ()),
    ("Legend", "Bob Marley", "reggae", 60, ()),
    ("Hamilton", "Original Broadway Cast", "soundtrack", 60, ("hamilton soundtrack",)),
    ("Dune", "Hans Zimmer", "soundtrack", 35, ("dune soundtrack",)),
    ("Interstellar", "Hans Zimmer", "soundtrack", 40, ("interstellar soundtrack",)),
    ("Jagged Little Pill", "Alanis Morissette", "rock", 50, ()),
    ("Blue", "Joni Mitchell", "folk", 45, ()),
    ("Folklore", "Taylor Swift", "pop", 65, ()),
    ("Graceland", "Paul Simon", "folk", 55, ()),
    ("Frozen", "Various Artists", "soundtrack", 45, ("frozen soundtrack",)),
]

# (title, popularity, aliases)
_MOVIES: list[tuple[str, int, tuple[str, ...]]] = [
    (
        "Harry Potter and the Sorcerer's Stone",
        85,
        ("harry potter", "harry potter and the philosopher's stone"),
    ),
    ("The Hunger Games", 75, ("hunger games",)),
    ("Dune", 80, ()),
    ("Frozen", 85, ()),
    ("Titanic", 75, ()),
    ("Jaws", 65, ()),
    ("The Martian", 70, ()),
    ("Little Women", 60, ()),
    ("The Hobbit", 70, ("the hobbit an unexpected journey",)),
    ("Pride and Prejudice", 60, ()),
    ("The Great Gatsby", 60, ("great gatsby",)),
    ("Jurassic Park", 75, ()),
    ("Gravity", 60, ()),
    ("Yesterday", 45, ()),
    ("Bohemian Rhapsody", 65, ()),
    ("Purple Rain", 40, ()),
    ("Hamilton", 70, ()),
    ("Rocketman", 50, ()),
    ("Respect", 40, ()),
    ("Iron Man", 75, ()),
    ("Interstellar", 80, ()),
    ("Inception", 80, ()),
    ("The Matrix", 80, ("matrix",)),
    ("Toy Story", 80, ()),
    ("Finding Nemo", 75, ()),
    ("The Lion King", 80, ("lion king",)),
    ("Star Wars", 85, ("star wars a new hope",)),
    ("The Godfather", 75, ("godfather",)),
    ("Casablanca", 55, ()),
    ("Back to the Future", 75, ()),
    ("Top Gun", 70, ()),
    ("Frankenstein", 40, ()),
    ("Moana", 75, ()),
    ("Encanto", 75, ()),
    ("Up", 70, ()),
    ("Coco", 70, ()),
    ("Cars", 65, ()),
    ("Shrek", 75, ()),
    ("Black Panther", 75, ()),
    ("Wonder Woman", 70, ()),
    ("Avatar", 75, ()),
    ("Oppenheimer", 75, ()),
    ("Barbie", 75, ()),
    ("The Dark Knight", 80, ("dark knight",)),
    ("Gone Girl", 65, ()),
    ("The Girl on the Train", 55, ("girl on the train",)),
    ("Ready Player One", 60, ()),
    ("Wonder", 50, ()),
]

# (title, author, popularity, aliases)
_AUDIOBOOKS: list[tuple[str, str, int, tuple[str, ...]]] = [
    ("Harry Potter and the Sorcerer's Stone", "J.K. Rowling", 70, ("harry potter",)),
    ("The Hunger Games", "Suzanne Collins", 65, ("hunger games",)),
    ("Dune", "Frank Herbert", 60, ()),
    ("Jaws", "Peter Benchley", 40, ()),
    ("The Martian", "Andy Weir", 60, ()),
    ("Little Women", "Louisa May Alcott", 55, ()),
    ("The Hobbit", "J.R.R. Tolkien", 65, ()),
    ("Pride and Prejudice", "Jane Austen", 65, ()),
    ("The Great Gatsby", "F. Scott Fitzgerald", 65, ("great gatsby",)),
    ("Jurassic Park", "Michael Crichton", 50, ()),
    ("Frankenstein", "Mary Shelley", 55, ()),
    ("Becoming", "Michelle Obama", 70, ()),
    ("Atomic Habits", "James Clear", 75, ()),
    ("Sapiens", "Yuval Noah Harari", 70, ()),
    ("Educated", "Tara Westover", 60, ()),
    ("Where the Crawdads Sing", "Delia Owens", 65, ()),
    ("Project Hail Mary", "Andy Weir", 70, ()),
    ("The Midnight Library", "Matt Haig", 60, ("midnight library",)),
    ("Born a Crime", "Trevor Noah", 60, ()),
    ("The Alchemist", "Paulo Coelho", 60, ("alchemist",)),
    ("Gone Girl", "Gillian Flynn", 55, ()),
    ("The Girl on the Train", "Paula Hawkins", 50, ("girl on the train",)),
    ("Ready Player One", "Ernest Cline", 55, ()),
    ("Wonder", "R.J. Palacio", 45, ()),
    ("Outlander", "Diana Gabaldon", 55, ()),
    ("Dracula", "Bram Stoker", 45, ()),
]

# (title, popularity, aliases)
_PODCASTS: list[tuple[str, int, tuple[str, ...]]] = [
    ("Serial", 65, ()),
    ("This American Life", 70, ()),
    ("The Daily", 80, ("daily",)),
    ("Radiolab", 60, ("radio lab",)),
    ("Freakonomics Radio", 60, ("freakonomics",)),
    ("Stuff You Should Know", 65, ()),
    ("Planet Money", 60, ()),
    ("Hidden Brain", 60, ()),
    ("Reply All", 50, ()),
    ("Up First", 65, ()),
    ("Crime Junkie", 70, ()),
    ("My Favorite Murder", 65, ()),
    ("99% Invisible", 55, ("ninety nine percent invisible", "99 percent invisible")),
    ("TED Radio Hour", 55, ("ted radio hour",)),
    ("Hardcore History", 55, ()),
    ("Science Vs", 45, ("science versus",)),
    ("Wait Wait... Don't Tell Me!", 55, ("wait wait dont tell me",)),
    ("Dracula", 30, ("dracula podcast",)),
]


def _build_items() -> tuple[MediaItem, ...]:
    items: list[MediaItem] = []
    for title, artist, genre, pop, aliases in _SONGS:
        items.append(MediaItem(f"song:{slug(title)}", title, MediaType.SONG, artist, genre, pop, aliases))
    for title, artist, genre, pop, aliases in _ALBUMS:
        items.append(MediaItem(f"album:{slug(title)}", title, MediaType.ALBUM, artist, genre, pop, aliases))
    for title, pop, aliases in _MOVIES:
        key = min((title, *aliases), key=len)
        items.append(MediaItem(f"movie:{slug(key)}", title, MediaType.MOVIE, None, None, pop, aliases))
    for title, author, pop, aliases in _AUDIOBOOKS:
        key = min((title, *aliases), key=len)
        mid = f"audiobook:{slug(key)}"
        items.append(MediaItem(mid, title, MediaType.AUDIOBOOK, author, None, pop, aliases))
    for title, pop, aliases in _PODCASTS:
        items.append(MediaItem(f"podcast:{slug(title)}", title, MediaType.PODCAST, None, None, pop, aliases))
    return tuple(items)


_DEFAULT: MediaCatalog | None = None


def default_catalog() -> MediaCatalog:
    """The shared catalog (built once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MediaCatalog(_build_items(), GENRE_WORDS)
    return _DEFAULT
