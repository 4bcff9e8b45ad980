import unittest

from rle import decode, encode


class VisibleTest(unittest.TestCase):
    def test_encode_example(self):
        self.assertEqual(encode("aaabccdddd"), "3a1b2c4d")

    def test_decode_example(self):
        self.assertEqual(decode("3a1b2c4d"), "aaabccdddd")

    def test_empty(self):
        self.assertEqual(encode(""), "")
        self.assertEqual(decode(""), "")


if __name__ == "__main__":
    unittest.main()
