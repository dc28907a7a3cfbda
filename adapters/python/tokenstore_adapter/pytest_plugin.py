"""pytest plugin: one test item per contract clause, for a store checked by tokenstore.

    pytest --tokenstore "my_module:MyStore"
    pytest --tokenstore "--durable my_module:FileBacked {dir}/tokens.csv"

The value is what follows `python -m tokenstore_adapter` (shim options, the store, its
constructor arguments, with `{dir}` and `{table}` for fresh storage per check; ADAPTERS.md).
The suite runs once, through the `tokenstore` command, when the first item runs; each
clause then passes, fails with the failing steps (secrets shown by length and
fingerprint only), or is skipped with its reason. `-k`, `-x` and `--junitxml` work as
usual; `--tokenstore-seed` replays a run. Under pytest-xdist (`-n N`) the suite still runs
once: the first worker to need the report runs it under a file lock and the others read it,
with the seed the controller chose, so every worker reports the same verdicts.
"""

import fcntl
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("tokenstore", "token-store conformance (tokenstore)")
    group.addoption("--tokenstore", metavar="WORDS",
                    help="check this store: the words after `python -m tokenstore_adapter`")
    group.addoption("--tokenstore-seed", metavar="N", help="the seed of the random checks")
    group.addoption("--tokenstore-cases", metavar="N", help="random sequences to run")
    group.addoption("--tokenstore-strict", action="store_true",
                    help="a failed SHOULD clause fails its item")
    group.addoption("--tokenstore-bench", metavar="DIR", nargs="?", const="tokenstore-bench",
                    help="after the tests, measure the store against the memory and SQLite "
                         "reference stores (tokenstore bench --quick); bench.json and "
                         "bench.svg go to DIR (default tokenstore-bench)")


def pytest_configure(config):
    config.addinivalue_line("markers", "tokenstore: a clause of the token-store contract")
    if config.getoption("tokenstore") and not hasattr(config, "workerinput"):
        # The controller (or a run without xdist): one seed and one report file for all.
        shared = tempfile.mkdtemp(prefix="tokenstore-pytest-")
        config.tokenstore_shared = {
            "tokenstore_seed": config.getoption("tokenstore_seed") or str(random.getrandbits(63)),
            "tokenstore_report": os.path.join(shared, "report.json"),
        }


def pytest_unconfigure(config):
    shared = getattr(config, "tokenstore_shared", None)
    if shared is not None:
        shutil.rmtree(os.path.dirname(shared["tokenstore_report"]), ignore_errors=True)


def pytest_terminal_summary(terminalreporter, config):
    """--tokenstore-bench: the store's speed, operation by operation, as a ratio of the
    reference stores' measured in the same run (once, on the controller)."""
    out = config.getoption("tokenstore_bench")
    if not out or not config.getoption("tokenstore") or hasattr(config, "workerinput"):
        return
    command = [binary(), "bench", "--quick", "--out", out, *adapter_words(config)]
    done = subprocess.run(command, capture_output=True, text=True)
    terminalreporter.section("tokenstore bench")
    for line in (done.stdout + done.stderr).splitlines():
        terminalreporter.write_line(line)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: each worker gets the controller's seed and report file."""
    node.workerinput.update(getattr(node.config, "tokenstore_shared", {}))


def adapter_words(config):
    """`--adapter -- python -m tokenstore_adapter WORDS`, for the store --tokenstore names."""
    words = shlex.split(config.getoption("tokenstore"))
    return ["--adapter", "--", sys.executable, "-m", "tokenstore_adapter", *words]


def shared_settings(config):
    """The seed and report file of this run, from the controller when under xdist."""
    if hasattr(config, "workerinput"):
        return config.workerinput
    return config.tokenstore_shared


def binary():
    """The `tokenstore` command installed with this package, else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "tokenstore")
    return here if os.access(here, os.X_OK) else shutil.which("tokenstore")


class Suite:
    """The report of one run of the whole suite, made when first asked for."""

    def __init__(self, config):
        self.config = config
        self.report = None

    def clauses(self):
        out = subprocess.run([binary(), "clauses"], capture_output=True, text=True, check=True)
        return [line.split()[:2] for line in out.stdout.splitlines() if line.strip()]

    def clause(self, clause_id):
        if self.report is None:
            self.report = self.shared_report()
        if "error" in self.report:
            raise ClauseFailed(self.report["error"])
        return next(c for c in self.report["clauses"] if c["id"] == clause_id)

    def shared_report(self):
        """The run's report: made by the first process to ask, read by the others."""
        shared = shared_settings(self.config)
        path = shared["tokenstore_report"]
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(path) and os.path.getsize(path) > 0:
                with open(path, encoding="utf-8") as f:
                    return json.load(f)
            report = self.run(shared["tokenstore_seed"])
            with open(path, "w", encoding="utf-8") as f:
                json.dump(report, f)
            return report

    def run(self, seed):
        option = self.config.getoption
        command = [binary(), "check", "--format", "json"]
        for flag, value in (("--seed", seed),
                            ("--cases", option("tokenstore_cases"))):
            if value:
                command += [flag, value]
        if option("tokenstore_strict"):
            command.append("--strict")
        command += adapter_words(self.config)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode not in (0, 1):
            return {"error": f"tokenstore check could not run the store:\n{done.stderr}"}
        return json.loads(done.stdout)


class ClauseFailed(Exception):
    """A clause the store breaks; the message holds the failing steps."""


class ClauseItem(pytest.Item):
    def __init__(self, *, suite, level, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite
        self.level = level
        self.user_properties.append(("level", level))
        self.add_marker(pytest.mark.tokenstore)

    def runtest(self):
        clause = self.suite.clause(self.name)
        verdict = clause["verdict"]
        if verdict == "skip":
            pytest.skip(clause["reason"] or "does not apply")
        if verdict == "warn":
            warnings.warn(f"SHOULD clause {self.name} fails:\n{details(clause)}")
        elif verdict != "pass":
            raise ClauseFailed(f"{self.level} clause {self.name}: {verdict}\n{details(clause)}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ClauseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return "tokenstore", None, f"{self.level} {self.name}"


def details(clause):
    lines = []
    if clause.get("blocked_by"):
        lines.append("blocked by " + ", ".join(clause["blocked_by"]))
    if clause.get("reason"):
        lines.append(clause["reason"])
    for scenario in clause["scenarios"]:
        failure = scenario.get("failure")
        if scenario["status"] == "error":
            lines.append(f"scenario {scenario['name']}: {scenario.get('reason')}")
        if not failure:
            continue
        lines.append(f"scenario {scenario['name']}, step {failure['step']} failed")
        lines += [f"  {n}. {step}" for n, step in enumerate(failure["steps"], 1)]
        lines.append(f"  expected: {failure['expected']}")
        lines.append(f"  actual:   {failure['actual']}")
        if failure.get("breaks"):
            lines.append("  breaks:   " + ", ".join(failure["breaks"]))
    return "\n".join(lines)


class Clauses(pytest.Collector):
    def __init__(self, *, suite, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite

    def collect(self):
        for clause_id, level in self.suite.clauses():
            yield ClauseItem.from_parent(self, name=clause_id, suite=self.suite, level=level)


# First, so that -k, -m and the other plugins see these items like any other.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    if not config.getoption("tokenstore"):
        return
    if binary() is None:
        raise pytest.UsageError("--tokenstore: no `tokenstore` command next to Python or on PATH")
    clauses = Clauses.from_parent(session, name="tokenstore", nodeid="tokenstore", suite=Suite(config))
    items.extend(clauses.collect())
