"""An aiosmtpd handler for the tests: writes each message it receives to a directory.

Run as `python -m aiosmtpd -n -l 127.0.0.1:PORT -c reemploi_smtp_sink.Sink DIR` with this
directory on PYTHONPATH. Each message becomes `DIR/<time>-<n>.json` with its envelope, headers,
decoded text and HTML parts and the raw message, written atomically (temporary file, then
rename), so a test reading the directory never sees half a message.
"""

import itertools
import json
import os
import time
from email import policy
from email.parser import BytesParser

_counter = itertools.count()


class Sink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("reemploi_smtp_sink.Sink takes one argument: the directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        parts = {}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html") and kind not in parts:
                parts[kind] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
            "raw": raw.decode("utf-8", "replace"),
        }
        name = "%d-%06d" % (time.time_ns(), next(_counter))
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"
