#!/usr/bin/env python3
"""The reference for memwire's lovely.memcached key vectors.

lovely.memcached hashes a cache key as md5(cPickle.dumps(key)), or
md5(cPickle.dumps((ns, key))) with a namespace: Python 2's cPickle at
protocol 0. Python 2 is not available where memwire is tested, and Python
3's pickle writes protocol 0 differently (memo numbers from 0, str as
unicode, floats as repr), so this re-implements Python 2.7's cPickle.dumps
in Python 3, rule by rule from CPython 2.7's Modules/cPickle.c:

- save(): None, bool, int, long, float and the empty tuple are never
  memoized; a str or unicode of fewer than 2 characters is saved with
  doput=0 (never memoized); anything else goes through put().
- put(): `if (Py_REFCNT(ob) < 2 || self->fast) return 0;` -- an object only
  the pickler holds gets no PUT. lovely builds its (ns, key) tuple inside
  the call, `cPickle.dumps((ns, key))`: the interpreter's load_args() moves
  it into the argument tuple, so its refcount is 1 and it gets no PUT
  (`Fresh` below). Every other object of a key is also held by the caller
  (a literal, a variable, lovely's own `key` and `ns` locals): PUT.
- put2(): PUT numbers start at 1 (`p++` on the memo size), written `p<n>\\n`.
- save_int(): `I%ld\\n`; save_long(): `L` + repr(long) (`123L`) + `\\n`;
  save_bool(): `I01\\n`/`I00\\n`; save_none(): `N`.
- save_float(): `F` + PyOS_double_to_string(x, 'g', 17, 0, NULL) + `\\n`,
  which is exactly Python 3's `'%.17g' % x` (same function): `F0.1` is
  `F0.10000000000000001`, `F1.0` is `F1`.
- save_string(): `S` + repr(str) + `\\n`; save_unicode(): `V` +
  modified_EncodeRawUnicodeEscape (UCS-4 build: `\\U%08x` from 0x10000,
  `\\u%04x` from 256 and for backslash and newline, else the latin-1 byte)
  + `\\n`.
- save_tuple(): `(` items `t`, then put(); the empty tuple is `(t`, never
  memoized. save_list()/save_dict(): `(l`/`(d`, put2() before the items.

Run it to print each vector as `md5  pickle`; memwire's tests in
transports/src/cache/keys.rs hold the same values as literals.
"""
import hashlib


class Str(bytes):
    """A Python 2 `str`."""


class Long(int):
    """A Python 2 `long` (an `int` beyond 64 bits is one anyway)."""


class Fresh(tuple):
    """A tuple only the pickler holds (refcount 1): no PUT."""


def py2_str_repr(data):
    """Python 2's repr() of a str (stringobject.c string_repr)."""
    quote = b'"' if b"'" in data and b'"' not in data else b"'"
    out = bytearray(quote)
    for c in data:
        if c in (quote[0], ord("\\")):
            out += b"\\" + bytes([c])
        elif c == ord("\t"):
            out += b"\\t"
        elif c == ord("\n"):
            out += b"\\n"
        elif c == ord("\r"):
            out += b"\\r"
        elif c < 0x20 or c >= 0x7F:
            out += b"\\x%02x" % c
        else:
            out.append(c)
    return bytes(out + quote)


def raw_unicode_escape(text):
    """cPickle.c modified_EncodeRawUnicodeEscape, UCS-4 build."""
    out = bytearray()
    for ch in text:
        n = ord(ch)
        if n >= 0x10000:
            out += b"\\U%08x" % n
        elif n >= 256 or ch in "\\\n":
            out += b"\\u%04x" % n
        else:
            out.append(n)
    return bytes(out)


def dumps(obj):
    out = bytearray()
    memo = [0]

    def put():
        memo[0] += 1
        out.extend(b"p%d\n" % memo[0])

    def save(o):
        if o is None:
            out.extend(b"N")
        elif o is True or o is False:
            out.extend(b"I01\n" if o else b"I00\n")
        elif isinstance(o, Long) or (isinstance(o, int) and not -(2**63) <= o < 2**63):
            out.extend(b"L%dL\n" % o)
        elif isinstance(o, int):
            out.extend(b"I%d\n" % o)
        elif isinstance(o, float):
            out.extend(b"F" + ("%.17g" % o).encode() + b"\n")
        elif isinstance(o, bytes):
            out.extend(b"S" + py2_str_repr(o) + b"\n")
            if len(o) >= 2:
                put()
        elif isinstance(o, str):
            out.extend(b"V" + raw_unicode_escape(o) + b"\n")
            if len(o) >= 2:
                put()
        elif isinstance(o, tuple):
            out.extend(b"(")
            for item in o:
                save(item)
            out.extend(b"t")
            if o and not isinstance(o, Fresh):
                put()
        elif isinstance(o, list):
            out.extend(b"(l")
            put()
            for item in o:
                save(item)
                out.extend(b"a")
        else:
            raise TypeError(type(o))

    save(obj)
    return bytes(out + b".")


def key(k, ns=None):
    """lovely.memcached's _buildKey: an empty namespace is no namespace."""
    return dumps(Fresh((ns, k)) if ns else k)


VECTORS = [
    # (namespace, key)
    (None, Str(b"cache_key")),
    (None, Str(b"")),
    (None, Str(b"a")),
    (None, Str(b"ab")),
    (None, Str(b"a'b\n\xff")),
    (None, ""),
    (None, "a"),
    (None, "ab"),
    (None, "\xe4\u20ac\U0001f600\\\n"),
    (None, 1),
    (None, -5),
    (None, 2**63),
    (None, Long(1)),
    (None, 2.5),
    (None, 0.1),
    (None, 1.0),
    (None, 1e16),
    (None, 1e17),
    (None, -0.0),
    (None, True),
    (None, None),
    (None, ()),
    (None, (1, Str(b"a"))),
    (None, (1, Str(b"ab"))),
    (None, ((Str(b"a"),), 2.5, False)),
    ("1", 1),
    ("2", 2),
    ("3", 5),
    ("1", Str(b"a")),
    ("1", "a"),
    ("ns", Str(b"cache_key")),
    ("NS_", (1, Str(b"a"))),
    ("1", 2.5),
    ("1", 2**70),
    ("1", None),
    ("\u540d\u524d", "\xe4"),
]

if __name__ == "__main__":
    for ns, k in VECTORS:
        p = key(k, ns)
        print(hashlib.md5(p).hexdigest(), repr(ns), repr(k), p)
