"""A fake Telegram Bot API on 127.0.0.1 for python-telegram-bot's ``base_url``.

Every request is checked against the real Bot API schema (``bot-api-spec/api.min.json.gz``
of the shared fixtures): the method must exist, required parameters must be present, no
unknown parameter may be sent, and each value must have one of the documented types. A
violation is recorded in :attr:`FakeTelegram.violations` and answered with HTTP 400, so a
test fails loudly.

Faults: ``down`` (every call answers 502, as Telegram's front does when it is away),
``retry_after`` (the next N sends answer 429 with ``retry_after``), ``conflict`` (getUpdates
answers 409 like a second poller causes). Wrong token: 401, which PTB turns into
``InvalidToken``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from email import policy as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

_SCALARS = {"Integer": (int,), "String": (str,), "Boolean": (bool,), "Float": (int, float), "Float number": (int, float)}


def load_spec(fixtures: Path) -> dict:
    """The Bot API schema: method name -> {field name -> (types, required)}."""
    raw = json.loads(gzip.decompress((fixtures / "telegram/bot-api-spec/api.min.json.gz").read_bytes()))
    return {name: {f["name"]: (f["types"], f["required"]) for f in m.get("fields", [])}
            for name, m in raw["methods"].items()}


def _type_ok(value, types: list[str]) -> bool:
    for t in types:
        if t in _SCALARS:
            if isinstance(value, bool) and t != "Boolean":
                continue
            if isinstance(value, _SCALARS[t]):
                return True
        elif t.startswith("Array of"):
            if isinstance(value, list):
                return True
        elif t == "InputFile":
            if isinstance(value, (bytes, str)):
                return True
        elif isinstance(value, dict):  # an object type (InlineKeyboardMarkup, ...), JSON-encoded
            return True
    return False


class FakeTelegram:
    """State of the fake Bot API; :meth:`start` serves it.

    Args:
        fixtures: the shared ``data/fixtures`` folder.
        token: the only token accepted.
    """

    def __init__(self, fixtures: Path, token: str = "123456:TEST-token"):
        self.spec = load_spec(fixtures)
        self.token = token
        self.bot_user = {"id": 123456, "is_bot": True, "first_name": "quantd test bot", "username": "quantd_test_bot"}
        self.requests: list[tuple[str, dict]] = []
        self.violations: list[str] = []
        self.sent: list[dict] = []  # successful sendMessage / edit / photo / document calls, in order
        self.down = False
        self.retry_after: list[int] = []  # answers for the next sends: 429 with these retry_after values
        self.conflict = False
        self.drop_sends = 0  # the next sendMessage calls are dropped: connection closed, no answer
        self._updates: list[dict] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None

    # ----- test API -----------------------------------------------------------------------------
    def push(self, update: dict) -> None:
        """Make ``update`` (a Bot API Update object) available to getUpdates."""
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of the messages sent (and edits), in order, optionally to one chat."""
        return [m["text"] for m in self.sent if "text" in m and (chat_id is None or m["chat_id"] == chat_id)]

    def wait_for(self, predicate, timeout: float = 10.0) -> list[dict]:
        """Wait until ``predicate(sent)`` is true; returns the sent list. Raises on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if predicate(self.sent):
                    return list(self.sent)
                self._cond.wait(0.05)
        raise AssertionError(f"timed out; sent so far: {[m.get('text', m.get('method')) for m in self.sent]}")

    # ----- handling ---------------------------------------------------------------------------
    def handle(self, token: str, method: str, params: dict) -> tuple[int, dict]:
        self.requests.append((method, params))
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        problem = self.validate(method, params)
        if problem:
            self.violations.append(problem)
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
        if self.down:
            return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 200, {"ok": True, "result": True}
        return handler(params)

    def validate(self, method: str, params: dict) -> str:
        """'' when the call matches the schema, else what is wrong."""
        fields = self.spec.get(method)
        if fields is None:
            return f"{method}: no such Bot API method"
        for name, (_types, required) in fields.items():
            if required and name not in params:
                return f"{method}: required parameter {name} missing"
        for name, value in params.items():
            if name not in fields:
                return f"{method}: unknown parameter {name}"
            if not _type_ok(value, fields[name][0]):
                return f"{method}: {name}={value!r} is not {' or '.join(fields[name][0])}"
        return ""

    def _m_getMe(self, p):
        return 200, {"ok": True, "result": self.bot_user}

    def _m_getUpdates(self, p):
        if self.conflict:
            return 409, {"ok": False, "error_code": 409, "description": "Conflict: terminated by other getUpdates "
                         "request; make sure that only one bot instance is running"}
        offset = int(p.get("offset", 0))
        deadline = time.monotonic() + min(float(p.get("timeout", 0)), 0.5)
        with self._cond:
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                if ready or time.monotonic() >= deadline:
                    return 200, {"ok": True, "result": ready}
                self._cond.wait(0.05)

    def _message(self, p: dict, **extra) -> dict:
        chat_id = p["chat_id"]
        msg = {"message_id": next(self._ids), "date": int(time.time()), "from": self.bot_user,
               "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}} | extra
        if "message_thread_id" in p:
            msg["message_thread_id"] = p["message_thread_id"]
        return msg

    def _record(self, method: str, p: dict, result) -> tuple[int, dict]:
        with self._cond:
            self.sent.append({"method": method, "result": result} | p)
            self._cond.notify_all()
        return 200, {"ok": True, "result": result}

    def _limited(self) -> tuple[int, dict] | None:
        if self.retry_after:
            secs = self.retry_after.pop(0)
            return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {secs}",
                         "parameters": {"retry_after": secs}}
        return None

    def _m_sendMessage(self, p):
        limited = self._limited()
        if limited:
            return limited
        return self._record("sendMessage", p, self._message(p, text=p["text"]))

    def _m_editMessageText(self, p):
        return self._record("editMessageText", p, self._message(p, text=p["text"]) if "chat_id" in p else True)

    def _m_sendPhoto(self, p):
        photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 900, "height": 600}]
        return self._record("sendPhoto", p, self._message(p, photo=photo))

    def _m_sendDocument(self, p):
        doc = {"file_id": "d1", "file_unique_id": "u2", "file_name": "trades.csv"}
        return self._record("sendDocument", p, self._message(p, document=doc))

    def _m_answerCallbackQuery(self, p):
        return self._record("answerCallbackQuery", p, True)

    # ----- HTTP -------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on an ephemeral port; returns the ``base_url`` for python-telegram-bot."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802
                _, bot, method = self.path.split("/", 2)
                params = fake.decode(method, self.headers, self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if method == "sendMessage" and fake.drop_sends > 0:
                    fake.drop_sends -= 1
                    self.close_connection = True  # hang up without an answer, as a dropped link does
                    return
                status, body = fake.handle(bot[3:], method, params)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (shutdown)
                    pass

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the bot opens a connection per concurrent reply; the default 5 drops some

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}/bot"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def decode(self, method: str, headers, body: bytes) -> dict:
        """Form-encoded (values JSON-encoded unless the field is a plain string) or multipart."""
        ctype = headers.get("Content-Type", "")
        fields = self.spec.get(method, {})
        raw: dict = {}
        if ctype.startswith("multipart/form-data"):
            message = BytesParser(policy=email_policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            for part in message.iter_parts():
                key = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                raw[key] = payload if part.get_filename() else payload.decode()
        elif body:
            raw = dict(parse_qsl(body.decode(), keep_blank_values=True))
        out = {}
        for key, value in raw.items():
            if isinstance(value, str) and fields.get(key, (["String"],))[0] != ["String"]:
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            out[key] = value
        return out
