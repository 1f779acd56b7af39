"""A driver that gets the protocol wrong in four ways (a test fixture for Kiln's conformance checks).

It answers every command, but: its inputs hash is random, not a function of (shape, seed); its `call`
reports a hash other than its setup's; it answers unknown commands with `ok`; and `check` never finds
a difference. `kiln dev check-driver` must name each of these.
"""

import os
import sys

OUTPUTS = bytes(64)
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer


def reply(text, payload=b""):
    stdout.write(text.encode() + b"\n" + payload)
    stdout.flush()


reply("ready backend=careless")
while True:
    line = stdin.readline()
    if not line:
        break
    words = line.decode().split()
    if not words:
        continue
    command = words[0]
    if command == "setup":
        reply(f"ok inputs={os.urandom(8).hex()} outputs={len(OUTPUTS)} flops=1 bytes=1")
    elif command == "call":
        reply("ok ns=1 inputs=0000000000000000")
    elif command == "out":
        reply(f"ok bytes={len(OUTPUTS)}", OUTPUTS)
    elif command == "check":
        stdin.read(int(words[1]))
        reply("ok max_abs=0 rel_l2=0 nonfinite=0 worst=out[0] expected=0 got=0")
    elif command == "quit":
        break
    else:
        reply("ok")
