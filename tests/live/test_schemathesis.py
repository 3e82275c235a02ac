"""Hostile input: schemathesis against TaskHub's own OpenAPI schema, through the production server.

Every operation, authenticated, with its examples, coverage, fuzzing and
stateful phases (the schema's links take a create's id to the reads, updates
and deletes of the same resource). Passing means no 5xx, no response outside
the schema (status, content type, headers, body), no schema-violating input
accepted, and nothing created that cannot be read back.

One check is left out: ``positive_data_acceptance`` wants every schema-valid
request to succeed, but the API has rules a JSON schema cannot state (a cursor
must be one the API issued, a password must not be common, a task cannot be
its own parent), and refusing those is correct.

CI runs a bounded number of examples; ``make stress`` runs the larger
variant (``pytest -m stress``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.services import token_create
from projects.models import Status
from taskhub.api import api
from tasks.services import comment_create
from tests import factories
from tests.live.servers import Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "use_after_free", "ensure_resource_availability",
])


def seed() -> tuple[str, str, dict[str, list[str]]]:
    """Data for the run to find: three workspaces with projects, tasks and comments.

    Returns a token for the owner, a spare token (revoked by the run of
    ``DELETE /auth/token``), and the ids by path parameter name.
    """
    owner = factories.user("fuzz-owner@example.com", "Fuzz Owner")
    others = [factories.user(f"fuzz-{role}@example.com", f"Fuzz {role}") for role in ("editor", "viewer")]
    ids: dict[str, list[str]] = {name: [] for name in
                                 ("workspace_id", "project_id", "task_id", "comment_id", "status_id", "user_id")}
    ids["user_id"] = [str(u.pk) for u in (owner, *others)]
    for w in range(3):
        workspace = factories.workspace(owner, name=f"Fuzz {w}", editors=[others[0]], viewers=[others[1]])
        ids["workspace_id"].append(str(workspace.pk))
        for p in range(2):
            project = factories.project(workspace, owner, key=f"F{w}{p}", members=[others[0]])
            ids["project_id"].append(str(project.pk))
            ids["status_id"] += [str(pk) for pk in Status.objects.filter(project=project).values_list("pk", flat=True)]
            for t in range(4):
                task = factories.task(project, owner, title=f"Task {t}")
                ids["task_id"].append(str(task.pk))
                ids["comment_id"].append(str(comment_create(task_id=task.pk, user=owner, body="A comment").pk))
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    spare, _ = token_create(email=owner.email, password=factories.PASSWORD)
    return token, spare, ids


def write_config(directory: Path, token: str, ids: dict[str, list[str]]) -> Path:
    """schemathesis.toml: the bearer token, and real ids for most path parameters (9 in 10)."""
    lines = [f'headers = {{ Authorization = "Bearer {token}" }}', ""]
    for name, values in ids.items():
        quoted = ", ".join(f'"{v}"' for v in values)
        lines += [f"[dictionaries.{name}s]", f"values = [{quoted}]", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}s", probability = 0.9 }}' for name in ids]
    # 414 is a correct refusal too: gunicorn answers it for an over-long request line.
    refusals = ", ".join(f'"{code}"' for code in (400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429))
    lines += ["", "[checks.negative_data_rejection]", f"expected-statuses = [{refusals}]"]
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis(config: Path, server: Server, name: str, *args: str, timeout: float) -> tuple[int, str]:
    """Run the CLI; its output goes to ``<name>.log`` beside the config (follow it with tail -f)."""
    cmd = [SCHEMATHESIS, "--config-file", str(config), "run", f"{server.base}/api/v1/openapi.json",
           "--checks", CHECKS, "--workers", "2", "--no-color", *args]
    log = config.parent / f"{name}.log"
    with log.open("w") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, cwd=config.parent).returncode
    return code, log.read_text()


def generated(output: str) -> int:
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


def run_fuzz(tmp_path: Path, servers, *, examples: int, seed_value: int, timeout: float) -> None:
    token, spare, ids = seed()
    server = servers(Server(kind="gunicorn"))
    config = write_config(tmp_path, token, ids)
    # DELETE /auth/token would revoke the token the whole run uses: it gets its own pass, with its own token.
    revoke = "DELETE /api/v1/auth/token"
    code, output = schemathesis(config, server, "main", "--max-examples", str(examples), "--seed", str(seed_value),
                                "--exclude-name", revoke, timeout=timeout)
    (tmp_path / "spare").mkdir()
    spare_config = write_config(tmp_path / "spare", spare, ids)
    code_revoke, output_revoke = schemathesis(spare_config, server, "revoke", "--max-examples", "5",
                                              "--include-name", revoke, "--phases", "examples,coverage,fuzzing",
                                              timeout=timeout)
    print(f"\nschemathesis: {generated(output) + generated(output_revoke)} test cases generated "
          f"({operations(output)} operations; {generated(output_revoke)} of them token revocations)")
    assert operations(output) == len(_operation_names()) - 1, output[-3000:]
    assert generated(output) > 0 and generated(output_revoke) > 0
    for name, got, text in (("all operations", code, output), ("token revocation", code_revoke, output_revoke)):
        assert got == 0, f"schemathesis found failures ({name}):\n{text[-20000:]}"


def _operation_names() -> list[str]:
    return [f"{method.upper()} {path}" for path, methods in api.get_openapi_schema()["paths"].items()
            for method in methods]


def operations(output: str) -> int:
    found = re.search(r"Tested: (\d+)", output)
    return int(found.group(1)) if found else 0


def test_schemathesis_finds_no_failure(tmp_path, servers):
    run_fuzz(tmp_path, servers, examples=int(os.environ.get("TASKHUB_FUZZ_EXAMPLES", "8")), seed_value=1,
             timeout=600)


@pytest.mark.stress
def test_schemathesis_long_run(tmp_path, servers):
    run_fuzz(tmp_path, servers, examples=int(os.environ.get("TASKHUB_FUZZ_EXAMPLES", "150")), seed_value=7,
             timeout=3000)
