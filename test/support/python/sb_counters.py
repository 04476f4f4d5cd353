"""Named counters that the Python test helpers bump and the ExUnit tests read."""


def counters(*keys):
    """A dict of counters, with functions that reset it and read one counter."""
    state = dict.fromkeys(keys, 0)

    def reset():
        for k in state:
            state[k] = 0
        return True

    def get(key):
        return state[key]

    return state, reset, get
