"""Reference solution of the sample task, kept outside the bundle."""

DIGITS = "0123456789"


def encode(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in DIGITS:
            raise ValueError(f"text contains the digit {c!r}")
        j = i
        while j < len(text) and text[j] == c:
            j += 1
        out.append(f"{j - i}{c}")
        i = j
    return "".join(out)


def decode(data: str) -> str:
    out = []
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] in DIGITS:
            j += 1
        count = data[i:j]
        if not count or count[0] == "0":
            raise ValueError(f"bad count at offset {i} of {data!r}")
        if j == len(data):
            raise ValueError(f"count without a character in {data!r}")
        out.append(data[j] * int(count))
        i = j + 1
    return "".join(out)
