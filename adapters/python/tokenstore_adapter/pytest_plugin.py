"""pytest plugin: one test item per contract clause, for a store checked by tokenstore.

    pytest --tokenstore "my_module:MyStore"
    pytest --tokenstore "--durable my_module:FileBacked {dir}/tokens.csv"

The value is what follows `python -m tokenstore_adapter` (shim options, the store, its
constructor arguments, with `{dir}` and `{table}` for fresh storage per check; ADAPTERS.md).
The suite runs once, through the `tokenstore` command, when the first item runs; each
clause then passes, fails with the failing steps (secrets shown by length and
fingerprint only), or is skipped with its reason. `-k`, `-x` and `--junitxml` work as
usual; `--tokenstore-seed` replays a run.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
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


def pytest_configure(config):
    config.addinivalue_line("markers", "tokenstore: a clause of the token-store contract")


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
            self.report = self.run()
        if "error" in self.report:
            raise ClauseFailed(self.report["error"])
        return next(c for c in self.report["clauses"] if c["id"] == clause_id)

    def run(self):
        option = self.config.getoption
        command = [binary(), "check", "--format", "json"]
        for flag, value in (("--seed", option("tokenstore_seed")),
                            ("--cases", option("tokenstore_cases"))):
            if value:
                command += [flag, value]
        if option("tokenstore_strict"):
            command.append("--strict")
        words = shlex.split(option("tokenstore"))
        command += ["--adapter", "--", sys.executable, "-m", "tokenstore_adapter", *words]
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
