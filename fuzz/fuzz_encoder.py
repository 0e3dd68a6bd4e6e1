"""Coverage-guided fuzz target for the command encoder (``_core.encode_command``), with atheris.

Run through ``scripts/fuzz``. Each input is the recipe of one command: a name (str, bytes,
bytearray or memoryview, possibly several words) and arguments of every type a caller may
pass, and an encoding. Property: our bytes equal redis-py's pure-Python encoder's
(``PythonRespSerializer`` + ``Encoder``) on the same arguments, or both raise the same
exception class (DataError with the same message, UnicodeEncodeError...); and the reply
reader reads the encoded command back as the list of its arguments (a command is a RESP
array of bulk strings).
"""
import sys

import atheris

with atheris.instrument_imports():
    from sentinelfast import _core
    from sentinelfast.exceptions import DataError

from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer
from redis.exceptions import DataError as RedisPyDataError

ENCODINGS = [("utf-8", "strict"), ("latin-1", "strict"), ("ascii", "replace"),
             ("utf-8", "surrogateescape"), ("utf-16", "strict"), ("ascii", "strict")]


class _Thing:
    pass


def gen_text(fdp):
    return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 12))


def gen_name(fdp):
    kind = fdp.ConsumeIntInRange(0, 4)
    words = [gen_text(fdp) for _ in range(fdp.ConsumeIntInRange(1, 4))]
    seps = [" ", "\t", "  ", "\n", "\r\n", "\x0b", "\x0c"]
    text = words[0]
    for w in words[1:]:
        text += seps[fdp.ConsumeIntInRange(0, len(seps) - 1)] + w
    if kind == 0:
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if kind == 1:
        return raw
    if kind == 2:
        return bytearray(raw)
    if kind == 3:
        return memoryview(raw)
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))


def gen_arg(fdp):
    kind = fdp.ConsumeIntInRange(0, 13)
    if kind == 0:
        return gen_text(fdp)
    if kind == 1:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 12))   # up to 96-bit ints
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeBool()
    if kind == 5:
        return None
    if kind == 6:
        return bytearray(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20)))
    if kind == 7:
        data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20))
        return memoryview(data)[fdp.ConsumeIntInRange(0, len(data)):]
    if kind == 8:
        return [1]
    if kind == 9:
        return _Thing()
    if kind == 10:
        return complex(1, 2)
    if kind == 11:
        return fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
    if kind == 12:
        return fdp.ConsumeRegularFloat()
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))


def theirs(args, encoding, errors):
    packer = PythonRespSerializer(6000, Encoder(encoding, errors, False).encode)
    return b"".join(bytes(chunk) for chunk in packer.pack(*args))


def outcome(fn):
    try:
        return "ok", fn()
    except (DataError, RedisPyDataError) as exc:
        return "DataError", str(exc)
    except UnicodeError as exc:
        return type(exc).__name__, None


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    encoding, errors = ENCODINGS[fdp.ConsumeIntInRange(0, len(ENCODINGS) - 1)]
    args = [gen_name(fdp)] + [gen_arg(fdp) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    ours = outcome(lambda: _core.encode_command(*args, encoding=encoding, errors=errors))
    expected = outcome(lambda: theirs(args, encoding, errors))
    assert ours == expected, (args, encoding, errors, ours, expected)
    if ours[0] == "ok":
        reader = _core.Reader()
        reader.feed(ours[1])
        words = reader.gets()
        assert isinstance(words, list) and reader.buffered() == 0, (ours, words)
        assert all(isinstance(w, bytes) for w in words)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
