"""One lock per run folder: the holder is named, a killed holder leaves no stale lock."""

import subprocess
import sys
import time

import pytest

from harness.record.lock import RunBusy, RunLock, describe_holder

HOLD = """
import sys, time
from harness.record.lock import RunLock
lock = RunLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(60)
"""


def test_another_process_is_named_and_a_killed_one_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy) as err:
            RunLock(tmp_path).acquire()
        message = str(err.value)
        assert f"pid {holder.pid} on " in message and "--resume" not in message
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path)
    for _ in range(50):  # the kernel drops the flock with the process
        try:
            lock.acquire()
            break
        except RunBusy:
            time.sleep(0.05)
    assert lock.held
    lock.release()


def test_holder_description_tolerates_an_empty_or_foreign_file():
    assert describe_holder("") == "another harness process"
    assert describe_holder('{"pid": "x"}') == "another harness process"
    gone = describe_holder('{"pid": 999999999, "host": "%s", "since": "t"}' % __import__("socket").gethostname())
    assert "child process of the finished pid 999999999" in gone
