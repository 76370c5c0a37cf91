"""parse_document hides page rendering behind waiting for answers.

Builds a 50-page PDF (fpdf2: a heading, paragraphs and a table a page), starts a loopback
chat-completions server that answers each page after 500 ms (a real page takes seconds), and reads the
PDF with 8 requests in flight two ways, side by side:

* ``parse_document`` — one thread renders pages while the others wait for answers;
* render every page first (pypdfium2, same size), then send them all as one batch (``vlm.run``);
* for reference, the openai SDK alone: every page already encoded (JPEG data URLs, as the client sends
  them), 8 threads each sending the next page as soon as its answer is read — what a client built on the
  openai SDK reaches on this machine with no rendering, encoding or parsing at all.

The ideal is 50 x 500 ms / 8 = 3.125 s; the goal is parse_document within 1.15x of it. Requests take
whole 500 ms turns, so 50 pages over 8 connections need 7 turns: 3.5 s (1.12x) is the floor any client
reaches, before its own time per request (building, encoding and reading each one: on a 2-core machine
the bare SDK row shows what HTTP and the SDK cost). The client sends one
request first, as a long-lived application has: the first connections and the openai SDK's lazy set-up
are not the pipeline's.

Run: python benchmarks/bench_documents.py [--quick]   (--quick: 16 pages, 250 ms)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

IN_FLIGHT = 8


def build(path: Path, pages: int) -> None:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(612, 792))
    pdf.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("helvetica", "B", 18)
        pdf.cell(0, 30, f"Chapter {number}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for _ in range(6):
            pdf.multi_cell(0, 14, "The quick brown fox jumps over the lazy dog. " * 8)
            pdf.ln(6)
        for row in range(8):
            for col in range(4):
                pdf.cell(120, 16, f"r{row} c{col}", border=1)
            pdf.ln(16)
    pdf.output(str(path))


SERVER = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = float(sys.argv[1])
BODY = json.dumps({
    "id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "# Chapter\\n\\nThe page's text."}}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010},
}).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def serve(delay: float) -> tuple[subprocess.Popen[str], str]:
    """A chat-completions server in its own process (as a real one is): answers after ``delay`` s."""
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(delay)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/v1"


def sdk_alone(url: str, images: list[Any]) -> float:
    """Seconds for the openai SDK alone to send pre-encoded pages, IN_FLIGHT threads."""
    import base64
    import io
    import queue
    import threading

    import openai

    urls: queue.Queue[str] = queue.Queue()
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        urls.put("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)

    def send(image_url: str) -> None:
        content = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": "Read"}]
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": content}],
            max_tokens=100,  # type: ignore[misc,list-item]
        )

    def work() -> None:
        while True:
            try:
                image_url = urls.get_nowait()
            except queue.Empty:
                return
            send(image_url)

    send("data:image/jpeg;base64," + base64.b64encode(b"").decode())  # connection, SDK set-up
    start = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    quick = "--quick" in sys.argv
    pages, delay = (16, 0.25) if quick else (50, 0.5)
    import pypdfium2

    from qwen_vlm import QwenVLM

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.pdf"
        build(path, pages)
        server, url = serve(delay)
        vlm = QwenVLM(
            "Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=url, max_concurrent_requests=IN_FLIGHT
        )
        from PIL import Image

        vlm.caption(Image.new("RGB", (64, 64)))  # the client's first request: connection, SDK set-up
        document = pypdfium2.PdfDocument(str(path))
        start = time.perf_counter()
        for k in range(len(document)):
            page = document[k]
            width, height = page.get_size()
            page.render(scale=1288 / max(width, height)).to_pil()
        render_each = (time.perf_counter() - start) / pages

        start = time.perf_counter()
        parsed = vlm.parse_document(path, format="markdown", progress=False)
        pipelined = time.perf_counter() - start
        assert parsed.ok and len(parsed.pages) == pages

        start = time.perf_counter()
        images = []
        for k in range(len(document)):
            page = document[k]
            width, height = page.get_size()
            images.append(page.render(scale=1288 / max(width, height)).to_pil().convert("RGB"))
        results = vlm.run("document-markdown", images, progress=False)
        first_then_send = time.perf_counter() - start
        assert all(r.ok for r in results)
        bare = sdk_alone(url, images)
        server.kill()
    ideal = pages * delay / IN_FLIGHT
    floor = -(-pages // IN_FLIGHT) * delay
    print(f"{pages} pages, server answering in {delay * 1000:.0f} ms, {IN_FLIGHT} in flight")
    print(f"rendering one page (1288 px): {render_each * 1000:.0f} ms")
    print(f"ideal ({pages} x {delay * 1000:.0f} ms / {IN_FLIGHT}): {ideal:.2f} s")
    print(
        f"floor (whole turns, {-(-pages // IN_FLIGHT)} of them): {floor:.2f} s ({floor / ideal:.2f}x ideal)"
    )
    for label, seconds in (
        ("parse_document (render while waiting)", pipelined),
        ("render all first, then send", first_then_send),
        ("openai SDK alone, pages pre-encoded", bare),
    ):
        print(f"{label:<40} {seconds:.3f} s  ({seconds / ideal:.3f}x ideal, {seconds / floor:.3f}x floor)")


if __name__ == "__main__":
    main()
