"""Prints the run-length encoding of the first argument."""

import sys

from rle import encode

if __name__ == "__main__":
    print(encode(sys.argv[1] if len(sys.argv) > 1 else ""))
