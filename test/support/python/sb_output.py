"""Python helpers of output_test: printing from calls, generators and threads."""

import sys
import threading
import time


def to_stderr(text):
    print(text, file=sys.stderr)


def lines(n, tail):
    for i in range(n):
        print(f"line {i}")
    sys.stdout.write(tail)
    return n


def chatty_gen(n):
    for i in range(n):
        print(f"making {i}")
        yield i
    print("done")


def progress():
    sys.stdout.write("50%...")
    sys.stdout.flush()
    sys.stdout.write("100%\n")


def stream_facts():
    out = sys.stdout
    return {
        "isatty": out.isatty(),
        "encoding": out.encoding,
        "fileno": out.fileno(),
        "buffer": out.buffer.write(b"\xc3\xa9t\xc3\xa9\n"[:0] + b"abcdef"),
    }


def to_buffer(text):
    sys.stdout.buffer.write(text.encode("utf-8"))


def print_then_hang():
    print("started")
    while True:
        time.sleep(0.01)


def print_in_thread(text):
    t = threading.Thread(target=print, args=(text,))
    t.start()
    t.join()


def log_each_level(name):
    import logging

    log = logging.getLogger(name)
    log.debug("debug message")
    log.info("info message")
    log.warning("warning message")
    log.error("error message")
    log.critical("critical message")
