"""`wirespeed otg`: an Open Traffic Generator server over HTTP (the paths of the OTG model that
snappi's HTTP client calls), each request parsed and checked by snappi's own model classes.

    POST /config               set the config (ports by location, flows)       -> Warning
    GET  /config               the config set                                    -> Config
    POST /control/state        traffic.flow_transmit start | stop                -> Warning
    POST /monitor/metrics      port or flow metrics                              -> MetricsResponse
    GET  /capabilities/version the OTG model's version this server speaks         -> Version

the same over gRPC with --grpc (snappi's generated service, in a process of its own that
relays to these paths), and, between wirespeed servers only: GET /wirespeed/clock (this host's
CLOCK_REALTIME, for the controller's offset), POST /wirespeed/start (an agent's start at the
agreed instant), GET /wirespeed/run (the last start: its instant and the agents' offsets).

Every error is an OTG Error (code, kind, errors) with HTTP 400 (the request) or 500 (the run),
and the server goes on serving.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wirespeed import __version__, ports
from wirespeed.base import values as V
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.option import BATCH, Option, Options
from wirespeed.otg.engine import Engine, OtgError

MAX_BODY = 16 << 20

OPTIONS = Options(
    "otg",
    Option("listen", ("--listen",), "127.0.0.1:8443", "serve OTG over HTTP on ADDR:PORT (default 127.0.0.1:8443)",
           parse=V.text, metavar="ADDR:PORT"),
    Option("grpc", ("--grpc",), None, "serve OTG over gRPC too, on ADDR:PORT (snappi.api(location=ADDR:PORT, "
           "transport=\"grpc\"))", parse=V.text, metavar="ADDR:PORT"),
    ports.choice(transmit=True, help="the generators' backend (a port's location may say ?backend=...); auto "
                 "(default): xdp where the interface's driver does AF_XDP in zero copy, else afpacket; ",
                 extra=("auto",), in_kernel=False),
    ports.choice("rx_backend", ("--rx-backend",), "the sinks' backend (a port's location may say "
                 "?rx_backend=...); auto (default) as --backend; ", extra=("auto",), receive=True, payload_only=False,
                 in_kernel=False),
    BATCH,
)


def snappi_module():
    """snappi, with its own log quiet (it warns at every client it makes)."""
    try:
        import snappi
    except ImportError:  # pragma: no cover - a dependency
        raise WirespeedError("wirespeed otg needs snappi (pip install snappi)") from None
    logging.getLogger("snappi").setLevel(logging.ERROR)
    return snappi


def spec_version() -> str:
    import snappi.snappi as generated

    api = generated.Api.__new__(generated.Api)
    generated.Api.__init__(api)
    return api._version_meta.api_spec_version


def version(spec: str) -> dict:
    return {"api_spec_version": spec, "sdk_version": spec, "app_version": f"wirespeed {__version__}"}


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise UsageError(f"--listen {text}: ADDR:PORT, e.g. 127.0.0.1:8443")
    return host.strip("[]") or "0.0.0.0", int(port)


def checked(snappi, model: str, doc) -> dict:
    """A request's body checked and normalised by snappi's class for it (a dict); a field the
    model does not have is refused."""
    obj = getattr(snappi, model)()
    try:
        obj.deserialize(doc)
    except Exception as e:  # noqa: BLE001 - snappi's validation raises plain exceptions
        raise OtgError(f"{model}: {e}") from None
    norm = obj.serialize(obj.DICT)
    unknown = _unknown(doc, norm, "")
    if unknown:
        raise OtgError(f"{model}: {unknown}: no such field in the OTG model")
    return norm


def _unknown(raw, norm, path: str) -> str | None:
    """The first field of a request that snappi's model dropped (it has no such field): a
    misspelt field is refused, not ignored."""
    if isinstance(raw, dict) and isinstance(norm, dict):
        for k, v in raw.items():
            if v is None:
                continue
            if k not in norm:
                return f"{path}.{k}".lstrip(".")
            found = _unknown(v, norm[k], f"{path}.{k}")
            if found:
                return found
    elif isinstance(raw, list) and isinstance(norm, list):
        for i, (a, b) in enumerate(zip(raw, norm)):
            found = _unknown(a, b, f"{path}[{i}]")
            if found:
                return found
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = f"wirespeed-otg/{__version__}"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the server's log is its notes, not every request
        pass

    @property
    def engine(self) -> Engine:
        return self.server.engine

    def _send(self, code: int, body: dict | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, text: str) -> None:
        self._send(code, {"code": code, "kind": "validation" if code < 500 else "internal", "errors": [text]})

    def _body(self, model: str):
        """The request's body, checked and normalised by snappi's class for it (a dict)."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise OtgError(f"the request is {n} bytes: at most {MAX_BODY}")
        raw = self.rfile.read(n).decode(errors="replace") if n else ""
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            raise OtgError(f"the body is not JSON: {e}") from None
        return doc if model is None else checked(self.server.snappi, model, doc)

    def _route(self, method: str) -> None:
        e = self.engine
        e.touch()
        path = self.path.split("?")[0].rstrip("/") or "/"
        if (method, path) == ("POST", "/config"):
            cfg = self._body("Config")
            warnings = e.set_config(cfg)
            return self._send(200, {"warnings": warnings})
        if (method, path) == ("GET", "/config"):
            return self._send(200, e.config or {})
        if (method, path) == ("POST", "/control/state"):
            return self._send(200, {"warnings": e.control(self._body("ControlState"))})
        if (method, path) == ("POST", "/monitor/metrics"):
            return self._send(200, e.metrics(self._body("MetricsRequest")))
        if (method, path) == ("GET", "/capabilities/version"):
            return self._send(200, version(self.server.spec))
        if (method, path) == ("GET", "/wirespeed/clock"):
            import time

            return self._send(200, {"realtime_ns": time.clock_gettime_ns(time.CLOCK_REALTIME)})
        if (method, path) == ("POST", "/wirespeed/start"):
            at = self._body(None).get("realtime_ns")
            if not isinstance(at, int):
                raise OtgError("/wirespeed/start: realtime_ns, an integer")
            return self._send(200, {"warnings": e.agent_start(at)})
        if (method, path) == ("GET", "/wirespeed/run"):
            return self._send(200, e.run_info)
        if path in ("/config", "/control/state", "/monitor/metrics", "/capabilities/version"):
            return self._error(405, f"{method} {path}: not this path's method")
        raise OtgError(f"{method} {path}: not supported (wirespeed serves /config, /control/state, "
                       f"/monitor/metrics, /capabilities/version)", 404)

    def _handle(self, method: str) -> None:
        try:
            self._route(method)
        except OtgError as err:
            self._error(err.code, str(err))
        except WirespeedError as err:
            self._error(400, str(err))
        except Exception as err:  # noqa: BLE001 - the server keeps serving; the error is the answer
            self._error(500, f"{type(err).__name__}: {err}")

    def do_GET(self):  # http.server's names
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    grpc_address: str | None = None

    def __init__(self, listen: str, engine: Engine):
        self.engine = engine
        self.snappi = snappi_module()
        self.spec = spec_version()
        try:
            super().__init__(parse_listen(listen), Handler)
        except OSError as e:
            raise UsageError(f"--listen {listen}: {e.strerror or e}") from None

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    @property
    def local_address(self) -> str:
        """Where this host reaches the server (a wildcard address is the loopback's)."""
        host, port = self.server_address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _grpc_front(grpc_listen: str, http: str, parent: int) -> None:
    """The gRPC front end, in a process of its own (grpc's threads never share a process with
    the engine, which forks every run's workers: a fork beside them can crash the child): each
    call's message turned into the OTG model's JSON and relayed to the HTTP server, its answer
    (or its OTG error) turned back. Prints one JSON line: the bound address, or the error."""
    import ctypes
    import signal
    import urllib.error
    import urllib.request

    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: ends with the server
    if os.getppid() != parent:
        return
    import grpc
    from google.protobuf import json_format
    from snappi import otg_pb2 as pb2, otg_pb2_grpc as pb2_grpc

    def relay(context, method: str, path: str, message, answer):
        body = None if message is None else json.dumps(json_format.MessageToDict(
            message, preserving_proto_field_name=True))
        req = urllib.request.Request(f"http://{http}{path}", data=body.encode() if body else None, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json_format.ParseDict(json.loads(r.read() or b"{}"), answer)
        except urllib.error.HTTPError as e:
            err = e.read().decode(errors="replace")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT if e.code < 500 else grpc.StatusCode.INTERNAL, err)
        except (OSError, ValueError) as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, json.dumps({"code": 500, "kind": "internal", "errors": [
                f"the OTG server at {http} did not answer ({e})"]}))

    class Servicer(pb2_grpc.OpenapiServicer):
        def SetConfig(self, request, context):
            return pb2.SetConfigResponse(warning=relay(context, "POST", "/config", request.config, pb2.Warning()))

        def GetConfig(self, request, context):
            return pb2.GetConfigResponse(config=relay(context, "GET", "/config", None, pb2.Config()))

        def SetControlState(self, request, context):
            return pb2.SetControlStateResponse(warning=relay(context, "POST", "/control/state",
                                                             request.control_state, pb2.Warning()))

        def GetMetrics(self, request, context):
            return pb2.GetMetricsResponse(metrics_response=relay(context, "POST", "/monitor/metrics",
                                                                 request.metrics_request, pb2.MetricsResponse()))

        def GetVersion(self, request, context):
            return pb2.GetVersionResponse(version=relay(context, "GET", "/capabilities/version", None,
                                                        pb2.Version()))

    from concurrent.futures import ThreadPoolExecutor

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, not grpc's threads
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    pb2_grpc.add_OpenapiServicer_to_server(Servicer(), server)
    try:
        host, port = parse_listen(grpc_listen)
    except UsageError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return
    try:
        bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        print(json.dumps({"error": f"--grpc {grpc_listen}: cannot listen there"}), flush=True)
        return
    server.start()
    print(json.dumps({"grpc": f"{host}:{bound}"}), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop(grace=1.0)


def grpc_front(grpc_listen: str, http: str) -> subprocess.Popen:
    """Start the gRPC front end (_grpc_front) beside this server; its address, or one error."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from wirespeed.otg.server import _grpc_front; "
                             "_grpc_front(sys.argv[1], sys.argv[2], int(sys.argv[3]))", grpc_listen, http,
                             str(os.getpid())], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "GRPC_VERBOSITY": "NONE"})  # its errors are ours to say, in one line
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    try:
        said = json.loads(line)
    except ValueError:
        said = {"error": f"--grpc {grpc_listen}: the gRPC front end did not start"}
    if "error" in said:
        proc.terminate()
        proc.wait()
        raise UsageError(said["error"])
    proc.address = said["grpc"]
    return proc


def serve(listen: str, backend: str, rx_backend: str, batch: int, note, ready=lambda server: None,
          grpc_listen: str | None = None) -> None:
    """Serve until interrupted; every run is stopped and closed on the way out."""
    engine = Engine(backend, rx_backend, batch, note)
    server = Server(listen, engine)
    front = None
    try:
        if grpc_listen:
            front = grpc_front(grpc_listen, server.local_address)
            server.grpc_address = front.address
        ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        if front is not None:
            front.terminate()
            front.wait()
        server.server_close()
        engine.close()


def start_in_thread(listen: str = "127.0.0.1:0", backend: str = "auto", rx_backend: str = "auto",
                    batch: int = 64, note=lambda text: None) -> Server:
    """A server in this process (the API's and the tests'): server.address, server.shutdown()."""
    server = Server(listen, Engine(backend, rx_backend, batch, note))
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    return server
