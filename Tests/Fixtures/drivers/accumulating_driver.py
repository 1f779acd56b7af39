"""A driver whose in-place buffer is never put back (a test fixture for Kiln's conformance checks).

It speaks the protocol correctly, with one output: 16 float32 values that each call adds 1.5 to, from the
setup's values, without restoring them before the next call, as a driver that forgets to put an in-place
buffer back would. `kiln dev check-driver` must say that a second call on one setup changes the outputs.
"""

import hashlib
import struct
import sys

stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
values = None
called = False


def reply(text, payload=b""):
    stdout.write(text.encode() + b"\n" + payload)
    stdout.flush()


def pack(numbers):
    return struct.pack(f"<{len(numbers)}f", *numbers)


reply("ready backend=accumulating")
while True:
    line = stdin.readline()
    if not line:
        break
    words = line.decode().split()
    if not words:
        continue
    command = words[0]
    if command == "setup" and len(words) >= 2 and words[1].isdigit():
        seed = int(words[1]) + (int(words[2]) if len(words) > 2 and words[2].isdigit() else 0)
        values = [float(seed + i) for i in range(16)]
        called = False
        digest = hashlib.blake2b(str(seed).encode(), digest_size=8).hexdigest()
        inputs = digest
        reply(f"ok inputs={inputs} outputs=64 flops=16 bytes=128")
    elif command == "call" and values is not None:
        values = [v + 1.5 for v in values]  # the in-place update, on what the last call left
        called = True
        reply(f"ok ns=1000 inputs={inputs}")
    elif command == "out" and called:
        reply("ok bytes=64", pack(values))
    elif command == "check" and called and len(words) == 2:
        got = struct.unpack("<16f", stdin.read(int(words[1])))
        diffs = [abs(g - e) for g, e in zip(got, values)]
        worst = max(range(16), key=lambda i: diffs[i])
        norm = sum(e * e for e in values) ** 0.5
        rel = sum(d * d for d in diffs) ** 0.5 / norm
        reply(f"ok max_abs={max(diffs)} rel_l2={rel} nonfinite=0 worst=y[{worst}] expected={values[worst]} "
              f"got={got[worst]} dtype=float32")
    elif command == "quit":
        break
    else:
        reply(f"error cannot '{line.decode().strip()}' now")
