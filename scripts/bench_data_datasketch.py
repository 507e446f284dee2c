"""The datasketch side of `npm run bench:data`: near-duplicate pairs with MinHash LSH.

Reads a JSON array of texts, shingles them exactly as Understudy does (NFKC, lowercase, every run
of characters other than letters and digits becomes one space, word n-grams joined by one space,
a text shorter than n words is one shingle), builds datasketch MinHash signatures with
`MinHash.bulk` (its fastest CPU path: numpy over all permutations at once), inserts them into a
`MinHashLSH` through an insertion session, queries every signature and keeps the candidates whose
estimated Jaccard reaches the threshold. Prints one JSON line: seconds, peak RSS, bands, rows and
the pairs. The clock starts after the texts are loaded and stops when the pair list is complete.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
import unicodedata
from dataclasses import dataclass

# Python's \w is letters, digits (str.isalnum) and "_": the complement plus "_" matches
# JavaScript's [^\p{L}\p{N}] for the text used here.
_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Options:
    input: str
    threshold: float
    num_perm: int
    shingle_size: int
    seed: int


def normalize(text: str) -> str:
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def word_shingles(text: str, size: int) -> list[bytes]:
    normalized = normalize(text)
    if normalized == "":
        return []
    tokens = normalized.split(" ")
    if len(tokens) < size:
        return [normalized.encode("utf-8")]
    return list({" ".join(tokens[start : start + size]).encode("utf-8") for start in range(len(tokens) - size + 1)})


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a JSON array of texts")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args(argv)
    if not 0.0 < arguments.threshold < 1.0:
        raise ValueError(f"--threshold must lie strictly between 0 and 1, got {arguments.threshold}")
    return Options(arguments.input, arguments.threshold, arguments.num_perm, arguments.shingle_size, arguments.seed)


def main(argv: list[str] | None = None) -> None:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    import datasketch
    from datasketch import MinHash, MinHashLSH

    with open(options.input, encoding="utf-8") as handle:
        texts: list[str] = json.load(handle)

    started = time.perf_counter()
    shingle_sets = [word_shingles(text, options.shingle_size) for text in texts]
    signatures = MinHash.bulk(shingle_sets, num_perm=options.num_perm, seed=options.seed)
    index = MinHashLSH(threshold=options.threshold, num_perm=options.num_perm)
    with index.insertion_session() as session:
        for key, signature in enumerate(signatures):
            session.insert(key, signature, check_duplication=False)
    pairs: list[int] = []
    for key, signature in enumerate(signatures):
        for other in index.query(signature):
            if other > key and signature.jaccard(signatures[other]) >= options.threshold:
                pairs.extend((key, other))
    seconds = time.perf_counter() - started

    shingle_count = sum(len(shingle_set) for shingle_set in shingle_sets)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "system": "datasketch",
                "version": datasketch.__version__,
                "seconds": seconds,
                "peakKiB": peak_kib,
                "bands": index.b,
                "rows": index.r,
                "shingles": shingle_count,
                "pairs": pairs,
            }
        )
    )


if __name__ == "__main__":
    main()
