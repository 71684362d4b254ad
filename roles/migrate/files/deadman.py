"""The dead-man switch of one pgmigrate run, on the app host (standard library only).

    python3 deadman.py fire RUN_DIR            what the transient systemd timer runs at the deadline
    python3 deadman.py watch RUN_DIR SECONDS   detaches, then fires at the deadline unless the run ended

Firing: unless the journal (RUN_DIR/state.json) says the run ended, it records "deadman_fired",
stops the app, puts this run's SQLite-era .env back, starts the app (on SQLite), and records
"deadman_restored" with what it did. The journal is changed under the flock that the
migration's run_journal module takes too. Settings come from RUN_DIR/deadman.json (no secrets).
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ENDED = {"healthy", "preflight_only", "preflight_failed", "undone", "rolled_back", "rollback_refused", "undoing",
         "deadman_fired", "deadman_restored"}


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_journal(run_dir):
    with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def change_journal(run_dir, change):
    """Apply CHANGE(journal) -> journal or None under the run's flock; the new journal or None."""
    with open(os.path.join(run_dir, "state.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        journal = change(read_journal(run_dir))
        if journal is None:
            return None
        journal["updated"] = utc_now()
        tmp = os.path.join(run_dir, "state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(journal, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, os.path.join(run_dir, "state.json"))
        return journal


def set_state(journal, state, **deadman):
    journal["state"] = state
    journal.setdefault("history", []).append({"state": state, "at": utc_now()})
    journal.setdefault("deadman", {}).update(deadman)
    return journal


def run(argv, actions, what):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    actions.append({"step": what, "ok": proc.returncode == 0, "detail": proc.stdout.strip()[-500:]})
    return proc.returncode == 0


def pid_alive(pid):
    return os.path.exists("/proc/%d" % pid)


def stop_app(conf, actions):
    if conf["manager"] == "systemd":
        return run(["systemctl", "stop"] + conf["units"], actions, "stop the app's units")
    try:
        with open(conf["pid_file"], encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        actions.append({"step": "stop the app", "ok": True, "detail": "no running app (no pid file)"})
        return True
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + conf["stop_timeout"]
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    actions.append({"step": "stop the app", "ok": True, "detail": "pid %d stopped" % pid})
    return True


def restore_env(conf, actions):
    if os.path.exists(conf["env_copy"]):
        target = conf["env_file"]
        tmp = target + ".pgmigrate-deadman"
        shutil.copy2(conf["env_copy"], tmp)
        stat = os.stat(conf["env_copy"])
        os.chown(tmp, stat.st_uid, stat.st_gid)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        detail = "%s put back from %s" % (target, conf["env_copy"])
    elif os.path.exists(conf["env_copy"] + ".absent"):
        if os.path.exists(conf["env_file"]):
            os.unlink(conf["env_file"])
        detail = "%s removed (it did not exist before the run)" % conf["env_file"]
    else:
        detail = "no .env copy in this run: the .env was never changed"
    actions.append({"step": "put the SQLite-era .env back", "ok": True, "detail": detail})


def read_env_file(path):
    """KEY=VALUE lines of the app's .env (export, # comments, '..' and ".." as the collection writes them)."""
    values = {}
    if not os.path.exists(path):
        return values
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line.startswith(("export ", "export\t")):
                line = line[len("export"):].lstrip()
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if line.startswith("#") or not sep or not key.replace("_", "a").isalnum():
                continue
            values[key] = unquote(value)
    return values


def unquote(value):
    if len(value) >= 2 and value[0] == "'" and "'" in value[1:]:
        return value[1:value.index("'", 1)]
    if len(value) >= 2 and value[0] == '"':
        out, i = [], 1
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
                i += 1
            out.append(value[i])
            i += 1
        return "".join(out)
    return value


def start_app(conf, actions, run_dir):
    if conf["manager"] == "systemd":
        return run(["systemctl", "start"] + conf["units"], actions, "start the app's units")
    argv = list(conf["start_command"])
    if conf.get("service_user"):
        argv = ["runuser", "-u", conf["service_user"], "--"] + argv
    env = dict(os.environ)
    env.update({key: str(value) for key, value in conf.get("environment", {}).items()})
    # The app's contract: its .env (now the SQLite-era one) is its environment, and wins (as EnvironmentFile=).
    env.update(read_env_file(conf["env_file"]))
    env["DJANGO_ENV_FILE"] = conf["env_file"]
    # Output to a file, not a pipe: a daemon that keeps the pipe open would make us wait forever.
    log_path = os.path.join(run_dir, "deadman-start.log")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(argv, cwd=conf.get("chdir") or None, env=env, stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log, timeout=120, check=False)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        detail = log.read().strip()[-500:]
    actions.append({"step": "start the app", "ok": proc.returncode == 0, "detail": detail})
    return proc.returncode == 0


def health(conf):
    for _attempt in range(60):
        try:
            with urllib.request.urlopen(conf["health_url"], timeout=5) as answer:
                body = answer.read()
            try:  # a JSON health answer is kept; any 2xx page will do
                doc = json.loads(body)
            except ValueError:
                doc = None
            return doc if isinstance(doc, dict) else {"status": answer.status}
        except OSError:
            time.sleep(1)
    return {}


def fire(run_dir):
    def claim(journal):
        if journal.get("state") in ENDED:
            return None
        return set_state(journal, "deadman_fired", fired=utc_now(), state_when_fired=journal.get("state"))

    if change_journal(run_dir, claim) is None:
        return 0
    with open(os.path.join(run_dir, "deadman.json"), encoding="utf-8") as handle:
        conf = json.load(handle)
    actions = []

    def start_app_here(conf, actions):
        return start_app(conf, actions, run_dir)

    for step in (stop_app, restore_env, start_app_here):
        try:
            step(conf, actions)
        except Exception as error:  # pylint: disable=broad-except  # every step runs; the journal says what failed
            actions.append({"step": step.__name__, "ok": False, "detail": str(error)})
    answer = health(conf) if conf.get("health_url") else {}
    change_journal(run_dir, lambda journal: set_state(journal, "deadman_restored", finished=utc_now(),
                                                      actions=actions, health=answer))
    return 0


def detach(run_dir):
    """Double fork: the caller (an Ansible task) returns at once; the watcher lives on its own."""
    if os.fork():
        os._exit(0)  # pylint: disable=protected-access
    os.setsid()
    if os.fork():
        os._exit(0)  # pylint: disable=protected-access
    log = os.open(os.path.join(run_dir, "deadman.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    with open(os.path.join(run_dir, "deadman.pid"), "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())


def watch(run_dir, seconds):
    deadline = time.time() + seconds
    detach(run_dir)
    while time.time() < deadline:
        if read_journal(run_dir).get("state") in ENDED:
            return 0
        time.sleep(1)
    return fire(run_dir)


def main(argv):
    if len(argv) == 3 and argv[1] == "fire":
        return fire(argv[2])
    if len(argv) == 4 and argv[1] == "watch":
        return watch(argv[2], float(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
