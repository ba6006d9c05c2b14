"""What the tests that start clusters of their own share: a free loopback port, and waiting for a condition."""
import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=30, every=0.2):
    """check()'s first truthy value; an assertion naming `what` once `timeout` seconds have passed without one."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            assert value, f"timed out after {timeout} s waiting for {what}"
            return value
        time.sleep(every)
