"""The signed pipe that carries test outcomes from a judge (a pytest subprocess) to the grader.

Submitted code never runs in the judge (it runs in the student process,
``scratch.grading.remote``), so the judge is trusted; the signature is a second line of
defence and a check on the plumbing, not the boundary:

- The grader makes two pipes per judge. Through the first it sends a fresh 32-byte key (the
  tests to run, and where to start the student process), then closes it; the plugin reads
  it to the end and closes its end before any test module is imported, so the key is never
  in a file, an argument or the environment, and cannot be read twice.
- Every record the plugin sends back on the second pipe is one line: the record as JSON
  (with a sequence number, so no record can be dropped, replayed or reordered unnoticed)
  and its HMAC-SHA256 under the key. The plugin keeps only a keyed HMAC object, not the key.
- The grader checks every line: a bad signature, a broken sequence or a line that is not a
  record means the judge was tampered with, and grading stops with no points.

The student process inherits neither pipe nor key.
"""

import hmac
import json
import os

KEY_BYTES = 32


class TamperedError(RuntimeError):
    """A record on the channel was not written by the grading plugin."""


def new_key():
    return os.urandom(KEY_BYTES)


def signer(key):
    return hmac.new(key, digestmod="sha256")


def sign(keyed, payload):
    mac = keyed.copy()
    mac.update(payload)
    return mac.hexdigest()


def encode(keyed, seq, record):
    """One signed line (bytes) for ``record`` at position ``seq``."""
    payload = json.dumps({"seq": seq, **record}, sort_keys=True).encode()
    return payload + b" " + sign(keyed, payload).encode() + b"\n"


class Reader:
    """The grader's end: feed it raw bytes, get back verified records in order."""

    def __init__(self, key):
        self.keyed = signer(key)
        self.buffer = b""
        self.seq = 0

    def feed(self, data):
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [self.verify(line) for line in lines]

    def verify(self, line):
        payload, _, mac = line.rpartition(b" ")
        if not payload or not hmac.compare_digest(sign(self.keyed, payload).encode(), mac):
            raise TamperedError(f"a record on the results channel has no valid signature: {line[:80]!r}")
        record = json.loads(payload)
        if record.pop("seq") != self.seq:
            raise TamperedError(f"a record on the results channel is out of sequence (expected #{self.seq})")
        self.seq += 1
        return record

    def finish(self):
        if self.buffer:
            raise TamperedError(f"the results channel ended inside a record: {self.buffer[:80]!r}")


def read_handshake(fd):
    """The plugin's end: read the grader's message from ``fd`` to EOF, close it, return it."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    message = json.loads(b"".join(chunks))
    return bytes.fromhex(message.pop("key")), message
