# SPDX-License-Identifier: GPL-2.0
"""Target process for tests/unit/test_pystr.c (any CPython 3.8 .. 3.14).

Prints, one per line:

    version MAJOR MINOR
    codetype ADDR         &PyCode_Type
    str NAME ADDR HEX     the str at ADDR; HEX is the UTF-8 a reader must
                          give (surrogateescape chars as their raw byte,
                          other lone surrogates U+FFFD)
    none NAME ADDR        a str a reader must refuse (too long; 3.8-3.11:
                          not ready, no canonical data)
    frame CODE IFRAME LINE QUALNAME FILE
                          a frame of the main thread, blocked in a call:
                          CODE the code object, IFRAME the struct holding
                          its instruction (the frame object up to 3.10, the
                          _PyInterpreterFrame from 3.11), LINE its f_lineno,
                          QUALNAME co_qualname (co_name up to 3.10)
    gen ...               the same for a suspended generator

then "ready", and waits for stdin to close.
"""
import codecs
import ctypes
import sys
import threading
import warnings

F_FRAME = 24  # PyFrameObject.f_frame, 3.11+ (GIL builds)


def expect_handler(err):
    out = b""
    for ch in err.object[err.start:err.end]:
        c = ord(ch)
        out += bytes([c - 0xDC00]) if 0xDC80 <= c <= 0xDCFF else "\ufffd".encode()
    return out, err.end


codecs.register_error("pyleak_expect", expect_handler)


class Sub(str):
    pass


def grüße_名前_𠀀(n):          # non-ASCII identifiers: latin-1, UCS-2, UCS-4
    return n


KEEP = []


def show_str(name, s):
    KEEP.append(s)
    print("str %s %#x %s" % (name, id(s), s.encode("utf-8", "pyleak_expect").hex()))


def strings():
    show_str("empty", "")
    show_str("ascii", "hello_ascii_" + str(len(sys.argv)))
    show_str("latin1", "caf\xe9_\xff_" + str(len(sys.argv)))
    show_str("ucs2", "\u540d\u524d_\u03a9_" + str(len(sys.argv)))
    show_str("ucs4", "\U00020000_astral_\U0001f600" + str(len(sys.argv)))
    show_str("max4096", "x" * 4096)
    show_str("escape", "bad\udcff\udc80.py")
    show_str("lone", "a\ud800b")
    show_str("legacy_ascii", Sub("legacy_ascii"))
    show_str("legacy_latin1", Sub("l\xe9gacy"))
    show_str("legacy_ucs2", Sub("\u540d\u524d"))
    show_str("legacy_ucs4", Sub("\U00020000!"))
    co = grüße_名前_𠀀.__code__
    show_str("co_name", co.co_name)
    show_str("co_filename", co.co_filename)
    if hasattr(co, "co_qualname"):
        show_str("co_qualname", co.co_qualname)
    big = "y" * 4097
    KEEP.append(big)
    print("none too_long %#x" % id(big))
    if sys.version_info < (3, 12):
        warnings.simplefilter("ignore", DeprecationWarning)
        # a deprecated wstr-only string: not "ready", no canonical data
        f = ctypes.pythonapi.PyUnicode_FromUnicode
        f.restype = ctypes.py_object
        f.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
        u = f(None, 5)
        KEEP.append(u)
        print("none not_ready %#x" % id(u))


def iframe(frame):
    if sys.version_info >= (3, 11):
        return ctypes.c_void_p.from_address(id(frame) + F_FRAME).value
    return id(frame)


def show_frame(kind, f):
    co = f.f_code
    print("%s %#x %#x %d %s %s" % (kind, id(co), iframe(f), f.f_lineno,
                                   getattr(co, "co_qualname", co.co_name),
                                   co.co_filename))


def gen(n):
    x = n
    yield x
    yield x + 1


def inner(a):
    return sys.stdin.readline()


def middle(a):
    # the instructions right before and after the call are on other lines
    b = [a,
         inner(
             a),
         a]
    return b


def outer():
    return middle(
        1)


def report(main_id, started):
    started.wait()
    # the main thread is blocked in inner() now, or about to be: wait for
    # its innermost frame to be inner's
    while True:
        f = sys._current_frames()[main_id]
        if f.f_code is inner.__code__:
            break
    strings()
    g = gen(3)
    next(g)
    KEEP.append(g)
    show_frame("gen", g.gi_frame)
    while f is not None:
        show_frame("frame", f)
        f = f.f_back
    print("ready", flush=True)


def main():
    print("version %d %d" % sys.version_info[:2])
    print("codetype %#x" % id(type(main.__code__)))
    started = threading.Event()
    t = threading.Thread(target=report, args=(threading.get_ident(), started))
    t.start()
    started.set()
    outer()
    t.join()


main()
