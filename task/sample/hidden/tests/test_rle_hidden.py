import unittest

from rle import decode, encode


class HiddenTest(unittest.TestCase):
    def test_long_runs_use_several_digits(self):
        self.assertEqual(encode("a" * 12 + "b" * 100), "12a100b")
        self.assertEqual(decode("12a100b"), "a" * 12 + "b" * 100)

    def test_non_ascii(self):
        self.assertEqual(encode("ééé😀😀 "), "3é2😀1 ")
        self.assertEqual(decode("3é2😀1 "), "ééé😀😀 ")

    def test_single_characters(self):
        self.assertEqual(encode("abc"), "1a1b1c")

    def test_round_trip(self):
        for text in ["x", "xyzzy", "  \n\n\t", "aAaA", "---===---", "ñññn"]:
            with self.subTest(text=text):
                self.assertEqual(decode(encode(text)), text)

    def test_encode_rejects_digits(self):
        for text in ["1", "a1", "abc9"]:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    encode(text)

    def test_decode_rejects_malformed(self):
        for data in ["3", "a", "0a", "03a", "3a4", "aa", "-1a", "1a0b"]:
            with self.subTest(data=data):
                with self.assertRaises(ValueError):
                    decode(data)


if __name__ == "__main__":
    unittest.main()
