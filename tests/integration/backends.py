"""Raw TCP backends on 127.0.0.1 for bridge and proxy tests, each in its own thread.

TcpBackend(mode) listens on a free port (or a Unix socket path) and serves every connection with `mode`:
  "echo"    sends back what it reads;
  "sink"    reads to EOF, recording the byte count and SHA-256 of each connection;
  "banner"  sends `banner` first (a VNC server speaks first), then echoes;
  "stall"   accepts and never reads (a backend that stops reading);
  "reset"   reads until it has `reset_after` bytes, then resets the connection (RST);
  "close"   sends `banner`, then closes its side (EOF).
close() stops it and every connection it holds."""

import hashlib
import socket
import struct
import threading


class TcpBackend:
    def __init__(self, mode, banner=b"", reset_after=1, rcvbuf=None, unix_path=None):
        self.mode = mode
        self.banner = banner
        self.reset_after = reset_after
        self.rcvbuf = rcvbuf
        if unix_path:  # a Unix domain socket at unix_path; address is "unix:PATH"
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.port = None
            self.address = f"unix:{unix_path}"
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            self.address = f"127.0.0.1:{self.port}"
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.listen(128)
        self.accepted = 0
        self.results = []  # sink: (bytes, sha256 hex) per finished connection
        self.done = threading.Condition()
        self.conns = []
        self.closed = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.done:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.mode in ("banner", "close") and self.banner:
                conn.sendall(self.banner)
            if self.mode == "close":
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            elif self.mode in ("echo", "banner"):
                while True:
                    data = conn.recv(1 << 20)
                    if not data:
                        break
                    conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)
            elif self.mode == "sink":
                h = hashlib.sha256()
                n = 0
                while True:
                    data = conn.recv(1 << 20)
                    if not data:
                        break
                    h.update(data)
                    n += len(data)
                with self.done:
                    self.results.append((n, h.hexdigest()))
                    self.done.notify_all()
            elif self.mode == "stall":
                self.stop.wait()
            elif self.mode == "reset":
                got = 0
                while got < self.reset_after:
                    data = conn.recv(65536)
                    if not data:
                        break
                    got += len(data)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def wait_results(self, count, timeout=30.0):
        with self.done:
            self.done.wait_for(lambda: len(self.results) >= count, timeout)
            return list(self.results)

    def close(self):
        self.closed = True
        self.stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.done:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
