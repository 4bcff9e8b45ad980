"""Run-length encoding. See PROMPT.md."""


def encode(text: str) -> str:
    """Return the run-length encoding of text."""
    raise NotImplementedError("encode is not written yet")


def decode(data: str) -> str:
    """Return the text whose run-length encoding is data."""
    raise NotImplementedError("decode is not written yet")
