"""A live authd for the Python tests: the built server (dist/) as its own process, on the embedded
database (a temp data dir) or on Postgres (a scratch database) + Redis (a private key prefix),
seeded through the CLI (the first admin) and then the admin API (everything else)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "src" / "cli" / "main.js"
AUDIENCE = "https://agents.test"
PASSWORD = "correct horse battery staple"
ADMIN_PASSWORD = "an admin passphrase for the tests"
ACCESS_TTL = 900
JWKS_MAX_AGE = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


_build_lock = threading.Lock()


def ensure_built() -> None:
    """npm run build when dist/ is missing or older than a source file of the server or a workspace
    package (once, whoever asks first)."""
    with _build_lock:
        _build_if_stale()


def _build_if_stale() -> None:
    if CLI.exists():
        built = CLI.stat().st_mtime
        sources = [*(ROOT / "src").rglob("*.ts"), *(ROOT / "packages").glob("*/src/**/*.ts")]
        if all(p.stat().st_mtime <= built for p in sources):
            return
    subprocess.run(["npm", "run", "build", "--silent"], cwd=ROOT, check=True, timeout=600, stdin=subprocess.DEVNULL)


def _node(script: str, *args: str) -> str:
    return subprocess.run(["node", "-e", script, *args], cwd=ROOT, check=True, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL).stdout


_SCRATCH_DB = """
const { Client } = require('pg');
const [url, sql] = process.argv.slice(1);
(async () => { const c = new Client({ connectionString: url }); await c.connect(); await c.query(sql); await c.end(); })()
  .catch((e) => { console.error(e.message); process.exit(1); });
"""


@dataclass
class User:
    username: str
    id: str


@dataclass
class Authd:
    backend: str
    issuer: str
    env: Dict[str, str]
    root: Path
    process: Optional[subprocess.Popen] = None
    redis_url: Optional[str] = None
    redis_prefix: Optional[str] = None
    resource_server: Dict[str, str] = field(default_factory=dict)
    users: Dict[str, User] = field(default_factory=dict)
    _admin_token: Optional[str] = None
    _cleanups: List[Any] = field(default_factory=list)
    _stopped: bool = False
    _signing_kid: Optional[str] = None
    _bob_token: Optional[Tuple[float, str]] = None

    @property
    def keys_dir(self) -> Path:
        return Path(self.env["AUTHD_KEYS_DIR"])

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    def start(cls, backend: str) -> "Authd":
        ensure_built()
        root = Path(tempfile.mkdtemp(prefix="authd-python-"))
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        env = {
            "PATH": os.environ.get("PATH", ""), "NODE_ENV": "test", "AUTHD_LOG_LEVEL": "warn",
            "AUTHD_METRICS_PORT": "0", "AUTHD_DEV_BOOTSTRAP": "false", "AUTHD_HOSTED_PAGES": "false",
            "AUTHD_ACCESS_TOKEN_TTL": str(ACCESS_TTL), "AUTHD_JWKS_MAX_AGE": str(JWKS_MAX_AGE),
            "AUTHD_ARGON2_MEMORY_KIB": "8192", "AUTHD_ARGON2_TIME_COST": "1",
            "AUTHD_KEYS_DIR": str(root / "keys"), "AUTHD_ISSUER": issuer, "PORT": str(port), "HOST": "127.0.0.1",
        }
        server = cls(backend, issuer, env, root)
        try:
            if backend == "embedded":
                env["AUTHD_DATA_DIR"] = str(root / "data")
            else:
                server._open_postgres_and_redis()
            server._seed_admin()
            server._serve(port)
            server._seed()
        except BaseException:
            server.stop()
            raise
        return server

    def _open_postgres_and_redis(self) -> None:
        database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
        name = f"authd_py_{secrets.token_hex(6)}"
        _node(_SCRATCH_DB, database_url, f"CREATE DATABASE {name}")
        self._cleanups.append(lambda: _node(_SCRATCH_DB, database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self.env["DATABASE_URL"] = urllib.parse.urlparse(database_url)._replace(path=f"/{name}").geturl()
        self.redis_url, self.redis_prefix = redis_url, f"authd-py:{secrets.token_hex(4)}:"
        self.env.update(REDIS_URL=redis_url, AUTHD_REDIS_PREFIX=self.redis_prefix)
        self._cleanups.append(self._delete_redis_keys)

    def _delete_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            for key in client.scan_iter(match=f"{self.redis_prefix}*", count=500):
                client.delete(key)
        finally:
            client.close()

    def cli(self, *args: str, stdin: str = "") -> str:
        # The first command on a fresh embedded database applies every migration in WebAssembly:
        # minutes on a loaded machine, so the bound is generous.
        done = subprocess.run(["node", str(CLI), *args], env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"authd {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
        return done.stdout

    def _seed_admin(self) -> None:
        # The embedded data directory belongs to one process: the CLI runs before the server.
        self.cli("clients", "create", "--id", "admin-cli", "--name", "Admin CLI", "--public", "--first-party",
                 "--grant", "password", "--scope", "authd:admin", "--default-scope", "authd:admin",
                 "--audience", self.issuer)
        self.cli("users", "create", "root@example.com", "--scope", "authd:admin", "--password-stdin",
                 stdin=ADMIN_PASSWORD + "\n")

    def _serve(self, port: int) -> None:
        log = open(self.root / "authd.log", "w")
        self._cleanups.append(log.close)
        self.process = subprocess.Popen(["node", str(CLI), "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"authd exited with {self.process.returncode}: {self.output()}")
            try:
                return httpx.get(f"{self.issuer}/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(f"authd on {port}", answers, timeout=300)
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            try:
                wait_until("the revocation index epoch", lambda: client.exists(f"{self.redis_prefix}{{rv}}:epoch") == 1)
            finally:
                client.close()

    def _seed(self) -> None:
        self.admin("POST", "/admin/clients", {
            "client_id": "agents-web", "name": "Agents console", "type": "public", "first_party": True,
            "grant_types": ["password", "refresh_token"], "scopes": ["agents:read", "agents:execute"],
            "default_scopes": ["agents:read"], "audience": AUDIENCE,
        })
        api = self.admin("POST", "/admin/clients", {
            "client_id": "agents-api", "name": "Agents API", "type": "confidential", "introspection": True,
            "grant_types": [], "audience": AUDIENCE,
        })
        self.resource_server = {"client_id": "agents-api", "client_secret": api["client_secret"]}
        for name, roles, scopes in (("ada", ["user", "admin"], ["agents:read", "agents:execute"]),
                                    ("bob", ["user"], ["agents:read"])):
            created = self.admin("POST", "/admin/users", {
                "username": f"{name}@example.com", "password": PASSWORD, "roles": roles, "scopes": scopes})
            self.users[name] = User(f"{name}@example.com", created["id"])

    def output(self) -> str:
        path = self.root / "authd.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception as error:  # keep cleaning up; say what was left behind
                print(f"authd test cleanup failed: {error}")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- talking to it ----------------------------------------------------------------------

    def _token(self, form: Dict[str, str]) -> Dict[str, Any]:
        answer = httpx.post(f"{self.issuer}/oauth/token", data=form, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"token endpoint answered {answer.status_code}: {answer.text}")
        return answer.json()

    def login(self, user: str = "bob", scope: Optional[str] = None) -> Dict[str, Any]:
        form = {"grant_type": "password", "client_id": "agents-web", "username": f"{user}@example.com",
                "password": PASSWORD}
        if scope:
            form["scope"] = scope
        return self._token(form)

    def access_token(self, user: str = "bob", scope: Optional[str] = None) -> str:
        return self.login(user, scope)["access_token"]

    def revoke(self, token: str) -> None:
        answer = httpx.post(f"{self.issuer}/oauth/revoke", data={"client_id": "agents-web", "token": token}, timeout=30)
        assert answer.status_code == 200, answer.text

    def admin(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        if self._admin_token is None:
            self._admin_token = self._token({"grant_type": "password", "client_id": "admin-cli",
                                             "username": "root@example.com", "password": ADMIN_PASSWORD})["access_token"]
        answer = httpx.request(method, f"{self.issuer}{path}", json=body, timeout=30,
                               headers={"authorization": f"Bearer {self._admin_token}"})
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def signing_kid(self) -> str:
        """The kid authd signs with now: the newest active key (cached; rotate_key() moves it)."""
        if self._signing_kid is None:
            active = [k for k in self.admin("GET", "/admin/keys")["keys"] if k["state"] == "active"]
            self._signing_kid = max(active, key=lambda k: k["activates_at"])["kid"]
        return self._signing_kid

    def rotate_key(self) -> str:
        """An emergency rotation (the new key signs at once); returns its kid."""
        self._signing_kid = self.admin("POST", "/admin/keys/rotate", {"immediate": True})["kid"]
        return self._signing_kid

    def bob_token(self) -> str:
        """One access token of bob's, shared by the tests that neither revoke nor change it."""
        if self._bob_token is None or time.time() - self._bob_token[0] > ACCESS_TTL / 2:
            self._bob_token = (time.time(), self.access_token("bob"))
        return self._bob_token[1]

    def private_key_pem(self, kid: str) -> bytes:
        return (self.keys_dir / f"{kid}.pem").read_bytes()


def decode_unverified(token: str) -> Dict[str, Any]:
    import base64

    def part(s: str) -> Dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))

    header, payload, _ = token.split(".")
    return {"header": part(header), "payload": part(payload)}
