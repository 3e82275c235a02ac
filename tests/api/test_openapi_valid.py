"""The OpenAPI document validates against the OpenAPI 3 specification."""

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_validates(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.json())  # raises OpenAPIValidationError on any violation
