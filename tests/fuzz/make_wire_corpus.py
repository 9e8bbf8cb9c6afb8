#!/usr/bin/env python3
# Writes the seed messages in corpus/wire/ (binary, so they are generated rather than typed):
# a Hello call as every client sends it first, its reply, a signal and an error with bodies, a
# big-endian call, and a message carrying an unknown header field; then bare bodies (the target's
# other mode: signature length, endian/fd byte, signature, body). Run it from anywhere:
#   python3 tests/fuzz/make_wire_corpus.py
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")


def pad(buf, n):
    return buf + b"\0" * (-len(buf) % n)


def field(end, code, sig, value):
    """One (yv) header field, starting 8-aligned."""
    out = bytes([code, len(sig)]) + sig.encode() + b"\0"
    if sig in ("s", "o"):
        out += struct.pack(end + "I", len(value)) + value.encode() + b"\0"
    elif sig == "g":
        out += bytes([len(value)]) + value.encode() + b"\0"
    elif sig == "u":
        out += struct.pack(end + "I", value)
    return out


def message(kind, serial, fields, body=b"", big=False, flags=0):
    end = ">" if big else "<"
    array = b""
    for f in fields:
        array = pad(array, 8) + field(end, *f)
    fixed = (b"B" if big else b"l") + bytes([kind, flags, 1])
    fixed += struct.pack(end + "III", len(body), serial, len(array))
    return pad(fixed + array, 8) + body


def string_body(end, *texts):
    out = b""
    for t in texts:
        out = pad(out, 4) + struct.pack(end + "I", len(t)) + t.encode() + b"\0"
    return out


SEEDS = {
    "hello": message(1, 1, [(1, "o", "/org/freedesktop/DBus"), (2, "s", "org.freedesktop.DBus"),
                            (3, "s", "Hello"), (6, "s", "org.freedesktop.DBus")]),
    "hello_reply": message(2, 1, [(5, "u", 1), (6, "s", ":1.42"), (7, "s", "org.freedesktop.DBus"),
                                  (8, "g", "s")], string_body("<", ":1.42")),
    "name_acquired": message(4, 2, [(1, "o", "/org/freedesktop/DBus"), (2, "s", "org.freedesktop.DBus"),
                                    (3, "s", "NameAcquired"), (6, "s", ":1.42"),
                                    (7, "s", "org.freedesktop.DBus"), (8, "g", "s")],
                             string_body("<", ":1.42")),
    "error": message(3, 3, [(4, "s", "org.freedesktop.DBus.Error.ServiceUnknown"), (5, "u", 7),
                            (6, "s", ":1.42"), (8, "g", "s")],
                     string_body("<", "The name is not activatable")),
    "big_endian_call": message(1, 5, [(1, "o", "/com/example/Obj"), (2, "s", "com.example.Iface"),
                                      (3, "s", "Frob"), (6, "s", "com.example.Service"), (8, "g", "ss")],
                               string_body(">", "a", "bc"), big=True, flags=0x2),
    "unknown_field": message(1, 6, [(1, "o", "/"), (3, "s", "Ping"), (42, "s", "ignored"),
                                    (2, "s", "org.freedesktop.DBus.Peer")], flags=0x1),
    "fd_call": message(1, 7, [(1, "o", "/"), (3, "s", "TakeFd"), (8, "g", "ha{sv}"), (9, "u", 1)],
                       struct.pack("<II", 0, 0)),
}

def bare_body(signature, body, big=False, unix_fds=0):
    return bytes([len(signature), (unix_fds << 1) | int(big)]) + signature.encode() + body


def dict_sv_body():
    # a{sv} holding {"k": <int32 5>, "fd": <handle 0>}: the shape of every D-Bus property map.
    entries = b""
    for key, sig, value in (("k", "i", struct.pack("<i", 5)), ("fd", "h", struct.pack("<I", 0))):
        entries = pad(entries, 8) + string_body("<", key) + bytes([1]) + sig.encode() + b"\0"
        entries = pad(entries, 4) + value
    return struct.pack("<I", len(entries)) + b"\0" * 4 + entries


SEEDS.update({
    "body_dict": bare_body("a{sv}", dict_sv_body(), unix_fds=1),
    # (ybnqiuxtd), big-endian: every fixed type with its padding.
    "body_struct": bare_body("(ybnqiuxtd)", b"\x07\0\0\0" + struct.pack(">IhHiI", 1, -2, 3, -4, 5) + b"\0" * 4
                             + struct.pack(">qQd", -6, 7, 8.5), big=True),
    # av(sog): [<"hi">, <uint32 9>], ("a", "/", "i").
    "body_nested": bare_body("av(sog)", struct.pack("<I", 20) + b"\x01s\0\0" + string_body("<", "hi")
                             + b"\x01u\0\0\0" + struct.pack("<I", 9)
                             + string_body("<", "a") + b"\0\0" + string_body("<", "/") + b"\x01i\0"),
})

if __name__ == "__main__":
    os.makedirs(HERE, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
