"""The OpenAPI document: valid OpenAPI 3, and shaped the way client generators and linters read it.

Redocly's ``recommended`` rules and Spectral's ``spectral:oas`` are the tools a
client team would run on it (see the README); these tests pin the properties
those tools found missing, so that they cannot come back unnoticed.
"""

import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def doc(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(doc):
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if method in METHODS:
                yield method, path, operation


def keys_anywhere(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, path
            yield from keys_anywhere(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from keys_anywhere(value, (*path, index))


def test_the_openapi_schema_validates(client, doc):
    validate(doc)  # raises OpenAPIValidationError on any violation
    reply = client.get("/api/v1/docs")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/html")
    assert b"openapi.json" in reply.content


def test_ranges_use_json_schema_keywords(doc):
    """pydantic's ``ge``/``le`` are not JSON Schema: a client would never see the range."""
    pydantic_only = [(key, path) for key, path in keys_anywhere(doc) if key in {"ge", "le", "gt", "lt"}
                     and "properties" not in path[-1:]]
    assert pydantic_only == []
    story_points = doc["components"]["schemas"]["TaskIn"]["properties"]["story_points"]["anyOf"][0]
    assert (story_points["minimum"], story_points["maximum"]) == (0, 1_000_000)
    position = doc["components"]["schemas"]["StatusIn"]["properties"]["position"]["anyOf"][0]
    assert (position["minimum"], position["maximum"]) == (0, 10_000)


def test_operation_ids_are_the_operations_names(doc):
    ids = [operation["operationId"] for _method, _path, operation in operations(doc)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation_id), operation_id
        assert not operation_id.startswith(("accounts_", "projects_", "tasks_", "realtime_api", "taskhub_"))
        assert "_api_" not in operation_id
    assert {"task_move", "workspace_create", "board_get", "user_register"} <= set(ids)


def test_public_operations_declare_no_security_and_the_others_do(doc):
    public = {("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/token"), ("get", "/api/v1/health")}
    for method, path, operation in operations(doc):
        if (method, path) in public:
            assert operation["security"] == [], (method, path)
        else:
            assert operation["security"], (method, path)
    assert doc["servers"] and doc["servers"][0]["url"] == "/"


def test_every_response_with_a_body_has_a_schema(doc):
    for method, path, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status in ("204", "304"):
                assert "content" not in response, (method, path, status)
                continue
            content = response.get("content")
            assert content, (method, path, status)
            for media in content.values():
                assert media.get("schema"), (method, path, status)


def test_errors_are_typed(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorOut"]["properties"]["detail"]["type"] == "string"
    item = schemas["ValidationErrorOut"]["properties"]["detail"]["items"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[item]["required"]) == {"loc", "msg", "type"}
    for method, path, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                ref = response["content"].get("application/json", {}).get("schema", {}).get("$ref", "")
                if status == "414":
                    continue  # the HTTP server's own HTML answer
                expected = "ValidationErrorOut" if status == "422" else ("TaskOut", "ProjectOut", "ErrorOut")
                assert ref.rsplit("/", 1)[1] in (expected if isinstance(expected, tuple) else (expected,)), (
                    method, path, status, ref)


# (method, path) -> (statuses that send ETag, If-Match honoured, If-None-Match honoured)
CONDITIONAL = {
    ("post", "/api/v1/workspaces/{workspace_id}/projects"): ({"201"}, False, False),
    ("get", "/api/v1/projects/{project_id}"): ({"200"}, False, False),
    ("patch", "/api/v1/projects/{project_id}"): ({"200", "412"}, True, False),
    ("post", "/api/v1/projects/{project_id}/archive"): ({"200"}, False, False),
    ("post", "/api/v1/projects/{project_id}/restore"): ({"200"}, False, False),
    ("put", "/api/v1/projects/{project_id}/status-override"): ({"200"}, False, False),
    ("delete", "/api/v1/projects/{project_id}/status-override"): ({"200"}, False, False),
    ("get", "/api/v1/projects/{project_id}/board"): ({"200", "304"}, False, True),
    ("post", "/api/v1/projects/{project_id}/tasks"): ({"201"}, False, False),
    ("get", "/api/v1/tasks/{task_id}"): ({"200"}, False, False),
    ("patch", "/api/v1/tasks/{task_id}"): ({"200", "412"}, True, False),
    ("post", "/api/v1/tasks/{task_id}/move"): ({"200", "412"}, True, False),
    ("post", "/api/v1/tasks/{task_id}/archive"): ({"200"}, False, False),
    ("post", "/api/v1/tasks/{task_id}/restore"): ({"200"}, False, False),
}


def test_conditional_headers_are_declared_where_they_are_honoured(doc):
    for method, path, operation in operations(doc):
        etag, if_match, if_none_match = CONDITIONAL.get((method, path), (set(), False, False))
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("If-Match" in headers) == if_match, (method, path)
        assert ("If-None-Match" in headers) == if_none_match, (method, path)
        sends = {status for status, response in operation["responses"].items() if "ETag" in response.get("headers", {})}
        assert sends == etag, (method, path)
    assert "content" not in doc["paths"]["/api/v1/projects/{project_id}/board"]["get"]["responses"]["304"]
    precondition = doc["paths"]["/api/v1/tasks/{task_id}"]["patch"]["responses"]["412"]
    assert precondition["content"]["application/json"]["schema"]["$ref"].endswith("/TaskOut")


def test_conditional_headers_match_what_the_api_does(api, owner, project):
    """The declared headers are real: ETag on a task write, 412 on a stale If-Match, 304 on a known board."""
    caller = api(owner)
    created = caller.post(f"/projects/{project.pk}/tasks", {"title": "x"})
    assert created.status == 201 and created.headers["ETag"] == '"1"'
    stale = caller.patch(f"/tasks/{created.body['id']}", {"title": "y"}, headers={"If-Match": '"0"'})
    assert stale.status == 412 and stale.body["version"] == 1 and stale.headers["ETag"] == '"1"'
    board = caller.get(f"/projects/{project.pk}/board")
    again = caller.get(f"/projects/{project.pk}/board", headers={"If-None-Match": board.headers["ETag"]})
    assert again.status == 304 and again.raw.content == b""


def test_tags_are_declared_with_descriptions(doc):
    declared = {tag["name"]: tag.get("description") for tag in doc["tags"]}
    used = {tag for _method, _path, operation in operations(doc) for tag in operation.get("tags", [])}
    assert used <= set(declared)
    assert all(declared.values())


def test_every_operation_is_described(doc):
    for method, path, operation in operations(doc):
        assert operation.get("description", "").strip(), (method, path)


def test_no_component_is_left_unused(doc):
    text = str({key: value for key, value in doc.items() if key != "components"})
    schemas = doc["components"]["schemas"]
    referenced = set(re.findall(r"#/components/schemas/(\w+)", text))
    for schema in schemas.values():
        referenced |= set(re.findall(r"#/components/schemas/(\w+)", str(schema)))
    assert set(schemas) <= referenced
