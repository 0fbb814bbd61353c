"""systemd's notify protocol (``sd_notify(3)``): one datagram per state change.

systemd sets ``NOTIFY_SOCKET`` (a path, or an abstract socket name starting with ``@``) for a
``Type=notify`` unit and ``WATCHDOG_USEC`` (µs) when ``WatchdogSec=`` is set. Outside systemd
(a terminal, Docker) neither is set and every call is a no-op. The protocol is a few lines of
socket code, so it is written here rather than pulled in as a dependency.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("quantd.systemd")


class Notifier:
    """Sends ``KEY=value`` lines to the service manager.

    Args:
        address: the ``NOTIFY_SOCKET`` value; None disables the notifier.
        watchdog_usec: the ``WATCHDOG_USEC`` value in µs, or None when no watchdog is armed.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Notifier:
        """The notifier systemd configured for this process (``NOTIFY_SOCKET``,
        ``WATCHDOG_USEC``; ``WATCHDOG_PID``, when set, must be this process)."""
        env = os.environ if environ is None else environ
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        armed = usec is not None and usec.isdigit() and int(usec) > 0 and (pid is None or pid == str(os.getpid()))
        return cls(env.get("NOTIFY_SOCKET") or None, int(usec) if armed else None)

    @property
    def enabled(self) -> bool:
        """True under a service manager that listens."""
        return self.address is not None

    @property
    def watchdog_secs(self) -> float | None:
        """The watchdog timeout in seconds, or None when none is armed."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 1e6

    def notify(self, **fields: str) -> bool:
        """Send ``READY=1``-style fields (``notify(READY="1", STATUS="...")``); returns True when
        sent. A failure is logged once and never raised: supervision must not stop trading."""
        if self.address is None:
            return False
        message = "\n".join(f"{k}={str(v).replace(chr(10), ' ')}" for k, v in fields.items()).encode()
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, target)
            self._failed = False
            return True
        except OSError as exc:
            if not self._failed:
                log.warning("systemd notify to %s failed: %s", self.address, exc)
            self._failed = True
            return False

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
