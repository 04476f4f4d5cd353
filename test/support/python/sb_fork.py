"""Python code that forks: the node must survive it (run in a child VM by fork_test)."""

import multiprocessing
import os
import signal
import time


def start_method():
    return multiprocessing.get_start_method()


def pool_map():
    with multiprocessing.Pool(2) as pool:
        return pool.map(abs, [-1, -2, -3])


def sleep_long():
    time.sleep(600)


def terminate_child(method=None):
    """Starts a process that sleeps, terminates it (SIGTERM), returns its exit code."""
    ctx = multiprocessing.get_context(method)
    p = ctx.Process(target=sleep_long)
    p.start()
    time.sleep(0.2)
    p.terminate()
    p.join(20)
    return p.exitcode


def fork_and_return():
    """os.fork(); the child returns to the library, which must end it at once."""
    pid = os.fork()
    if pid == 0:
        return "child"
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def signal_forked_child(signame):
    """A forked child gets default signal dispositions: the signal ends it."""
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    time.sleep(0.2)
    os.kill(pid, getattr(signal, signame))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
