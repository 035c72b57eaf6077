"""A teacher on 127.0.0.1 that speaks the chat-completions API, for tests and the bench.

Plain asyncio HTTP/1.1 with keep-alive, so a test controls every byte: a ``respond``
function sees each request (with how many times that prompt came before) and returns
a ``Reply``: an answer, an error status with headers, a delay, a dropped connection, a
malformed body, or a hold (no answer until the test calls ``release``; ``wait_held`` waits
until the server holds so many, so a test acts on what the server saw, not on timing). It runs on its own event loop in a thread (``with TeacherServer(…)``)
or as a process (``python tests/teacher_server.py --delay 0.05``, which prints its port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict
    attempt: int  # earlier requests with the same last message
    at: float  # time.monotonic() when it arrived

    @property
    def prompt(self) -> str:
        return self.body["messages"][-1]["content"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection instead of answering
    hold: bool = False  # answer only once the test calls TeacherServer.release()


def answer(
    content: str | None,
    reasoning_content: str | None = None,
    finish: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 20,
    delay: float = 0.0,
) -> Reply:
    message = {"role": "assistant", "content": content}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "teacher",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Reply(body=json.dumps(body).encode(), delay=delay)


def error(status: int, message: str = "error", headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps({"error": {"message": message}}).encode(), headers or {})


_REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class TeacherServer:
    def __init__(self, respond: Callable[[Request], Reply]):
        self.respond = respond
        self.requests: list[Request] = []
        self._seen: Counter = Counter()
        self.port = 0
        self.held = 0  # requests held so far (answered or not)
        self._held = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> TeacherServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self.start(), self._loop).result()
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def release(self) -> None:
        """Answer every held request, and every later one at once."""
        self._loop.call_soon_threadsafe(self._release.set)

    def wait_held(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until ``count`` requests in all have been held; False if that took over ``timeout``."""
        with self._held:
            return self._held.wait_for(lambda: self.held >= count, timeout)

    async def start(self):
        self._release = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = json.loads(await reader.readexactly(int(headers.get("content-length", 0))) or b"{}")
                request = Request(path, headers, body, 0, time.monotonic())
                if "messages" in body:
                    request.attempt = self._seen[request.prompt]
                    self._seen[request.prompt] += 1
                self.requests.append(request)
                reply = self.respond(request)
                if reply.hold:
                    with self._held:
                        self.held += 1
                        self._held.notify_all()
                    await self._release.wait()
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.drop:
                    writer.transport.abort()
                    return
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write(
                    f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(reply.body)}\r\n{extra}\r\n".encode()
                    + reply.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection (or gave up waiting)
        finally:
            writer.close()


def main() -> None:
    """Serve one fixed answer after ``--delay`` seconds until killed (the bench's teacher)."""
    args = argparse.ArgumentParser()
    args.add_argument("--delay", type=float, default=0.05)
    delay = args.parse_args().delay
    reply = answer("<think>Add the two numbers: 2 + 2 = 4.</think>The answer is 4.", delay=delay)

    async def serve():
        server = TeacherServer(lambda request: reply)
        await server.start()
        print(server.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
