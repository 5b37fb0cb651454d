#!/usr/bin/env python3
"""Fuzz pass on loopback for `caption serve` (issue 7); a developer tool, never run by tests or CI.

Starts the server, then for a bounded time sends garbage (random bytes, truncated and bit-flipped
JPEG/PNG, headers declaring huge dimensions, oversized bodies, wrong media types, broken multipart,
slow bodies and slow headers) while a well-behaved client keeps asking for captions. Reports the
status codes seen, the well-behaved client's success rate and latency, whether the server is still
up, and its RSS before, after and at peak. Standard library only; traffic goes to 127.0.0.1 only.

    tools/serve/fuzz.py --model M --jpeg photo.jpg --png photo.png [--seconds 60]
"""
import argparse, collections, http.client, os, random, socket, statistics, struct, subprocess, threading, time, zlib

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--jpeg", required=True)
parser.add_argument("--png", required=True)
parser.add_argument("--seconds", type=float, default=60)
parser.add_argument("--port", type=int, default=18090)
parser.add_argument("--caption", default=".build/release/caption")
parser.add_argument("--timeout-s", default="5")
args = parser.parse_args()

JPEG = open(args.jpeg, "rb").read()
PNG = open(args.png, "rb").read()
rng = random.Random(7)


def rss_kb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def post(body, content_type, path="/v1/captions", timeout=30, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=timeout)
    try:
        all_headers = {"Content-Type": content_type} if content_type else {}
        all_headers.update(headers or {})
        connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width, height):
    """A valid PNG signature and IHDR (with a correct CRC) declaring width × height, and one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def huge_jpeg(width, height):
    """The real JPEG with its frame header rewritten to declare width × height."""
    data = bytearray(JPEG)
    offset = 2
    while offset < len(data):
        marker, length = data[offset + 1], struct.unpack(">H", data[offset + 2:offset + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[offset + 5:offset + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        offset += 2 + length
    raise SystemExit("no frame header in " + args.jpeg)


def flipped(data, flips):
    data = bytearray(data)
    for _ in range(flips):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def multipart_garbage():
    boundary = "b%08x" % rng.getrandbits(32)
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n".encode() + os.urandom(rng.randrange(1, 5000))
    return body, f"multipart/form-data; boundary={boundary}"


def garbage_case():
    kind = rng.randrange(11)
    if kind == 0: return "random bytes", post(os.urandom(rng.randrange(0, 200_000)), rng.choice(["image/jpeg", "image/png"]))
    if kind == 1: return "truncated jpeg", post(JPEG[:rng.randrange(len(JPEG))], "image/jpeg")
    if kind == 2: return "truncated png", post(PNG[:rng.randrange(len(PNG))], "image/png")
    if kind == 3: return "bit-flipped jpeg", post(flipped(JPEG, rng.randrange(1, 50)), "image/jpeg")
    if kind == 4: return "bit-flipped png", post(flipped(PNG, rng.randrange(1, 50)), "image/png")
    if kind == 5: return "png 100000x100000", post(huge_png(100_000, 100_000), "image/png")
    if kind == 6: return "jpeg 65000x65000", post(huge_jpeg(65_000, 65_000), "image/jpeg")
    if kind == 7: return "11 MB body", post(os.urandom(11 * 1024 * 1024), "image/jpeg")
    if kind == 8: return "wrong media type", post(JPEG, rng.choice(["text/plain", "image/gif", "application/json", None]))
    if kind == 9:
        body, content_type = multipart_garbage()
        return "multipart garbage", post(body, content_type)
    return "zero bytes", post(b"", "image/png")


def slow_body(stop):
    """Sends a JPEG body at ~200 bytes/s: the server must cut it off at its timeout, alone."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=60) as s:
                s.sendall(b"POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                          + f"Content-Length: {len(JPEG)}\r\n\r\n".encode())
                answer = b""
                for i in range(0, len(JPEG), 20):
                    if stop.is_set(): break
                    s.sendall(JPEG[i:i + 20])
                    time.sleep(0.1)
                    s.setblocking(False)
                    try:
                        answer = s.recv(4096)
                    except BlockingIOError:
                        pass
                    s.setblocking(True)
                    if answer: break
                record("slow body", answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "closed/no answer")
        except OSError as error:
            record("slow body", type(error).__name__)


def slow_headers(stop):
    """Slowloris: a header line every second, never finishing the request."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=60) as s:
                s.sendall(b"POST /v1/captions HTTP/1.1\r\n")
                for i in range(60):
                    if stop.is_set(): break
                    s.sendall(f"X-Slow-{i}: {i}\r\n".encode())
                    time.sleep(1)
                record("slow headers", "sent 60 header lines")
        except OSError as error:
            record("slow headers", "cut off (" + type(error).__name__ + ")")


lock = threading.Lock()
seen = collections.defaultdict(collections.Counter)
good_latencies, good_failures = [], collections.Counter()


def record(kind, status):
    with lock:
        seen[kind][str(status)] += 1


def well_behaved(stop):
    while not stop.is_set():
        start = time.monotonic()
        status = post(JPEG, "image/jpeg", path="/v1/captions?beam=3")
        with lock:
            if status == 200:
                good_latencies.append((time.monotonic() - start) * 1000)
            else:
                good_failures[str(status)] += 1


server = subprocess.Popen([args.caption, "serve", "--model", args.model, "--port", str(args.port),
                           "--timeout-s", args.timeout_s, "--log-level", "error"])
try:
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request("GET", "/healthz")
            break
        except OSError:
            time.sleep(0.1)
    for _ in range(20):
        post(JPEG, "image/jpeg")
    rss_before = rss_kb(server.pid)
    stop = threading.Event()
    threads = [threading.Thread(target=t, args=(stop,)) for t in [well_behaved, slow_body, slow_body, slow_headers, slow_headers]]
    for thread in threads: thread.start()
    deadline = time.monotonic() + args.seconds
    garbage_sent = 0

    def garbage_loop():
        global garbage_sent
        while time.monotonic() < deadline:
            kind, status = garbage_case()
            record(kind, status)
            with lock:
                garbage_sent += 1

    fuzzers = [threading.Thread(target=garbage_loop) for _ in range(4)]
    for thread in fuzzers: thread.start()
    for thread in fuzzers: thread.join()
    stop.set()
    for thread in threads: thread.join(timeout=70)
    alive = server.poll() is None
    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
    connection.request("GET", "/healthz")
    health = connection.getresponse().status
    final = post(JPEG, "image/jpeg")
    rss_after, rss_peak = rss_kb(server.pid), rss_kb(server.pid, "VmHWM")
    print(f"fuzz for {args.seconds:.0f} s: {garbage_sent} garbage requests from 4 threads, 2 slow-body and 2 slow-header clients")
    for kind in sorted(seen):
        print(f"  {kind:20s} " + ", ".join(f"{status}×{count}" for status, count in sorted(seen[kind].items())))
    latencies = sorted(good_latencies)
    if latencies:
        print(f"well-behaved client meanwhile: {len(latencies)} captions OK, failures {dict(good_failures) or 'none'}, "
              f"p50 {statistics.median(latencies):.1f} ms, p99 {latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms")
    print(f"server alive: {alive}, /healthz {health}, a caption after the fuzz: {final}")
    print(f"RSS before {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB, peak {rss_peak / 1024:.1f} MiB")
finally:
    server.terminate()
    server.wait(timeout=30)
