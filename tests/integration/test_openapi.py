"""docs/openapi.yaml is the API as implemented: it lists exactly the routes of API_ROUTES in
src/api/server.c (with their auth and body flags), schemathesis finds no failure against a live
server, and real responses of every kind conform to the documented statuses, headers, content
types and schemas."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import ADMIN_TOKEN, REPO, run_surge

OPENAPI = REPO / "docs" / "openapi.yaml"
SERVER_C = REPO / "src" / "api" / "server.c"
VENV_BIN = Path(sys.executable).parent
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# {"GET", "/healthz", handle_healthz, false, false, false},  (admin, json_body, ndjson)
ROUTE_RE = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(true|false)\s*,'
                      r'\s*(true|false)\s*,\s*(true|false)\s*\}')
# the media types a route with the ndjson flag takes besides application/json (server.c)
NDJSON_TYPES = ["application/x-ndjson", "application/ndjson"]


def api_routes() -> dict:
    """{(METHOD, pattern): (admin, json_body, ndjson)} from the API_ROUTES table in server.c."""
    text = SERVER_C.read_text()
    start = text.index("const api_route API_ROUTES[] = {")
    table = text[start:text.index("};", start)]
    routes = {}
    for method, pattern, _handler, admin, json_body, ndjson in ROUTE_RE.findall(table):
        assert (method, pattern) not in routes, f"{method} {pattern} is in API_ROUTES twice"
        routes[(method, pattern)] = (admin == "true", json_body == "true", ndjson == "true")
    # every entry of the table was understood by the regex
    assert len(routes) == table.count("handle_"), "an API_ROUTES entry did not parse"
    return routes


def openapi() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def documented_operations(doc: dict) -> dict:
    return {(method.upper(), path): op
            for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


# ---------------------------------------------------------------- (a) routes <-> document

def test_every_route_is_documented_and_every_documented_operation_exists():
    routes = api_routes()
    assert len(routes) >= 26
    doc = openapi()
    assert doc["openapi"] == "3.0.3"
    operations = documented_operations(doc)
    assert sorted(set(routes) - set(operations)) == [], "routes missing from docs/openapi.yaml"
    assert sorted(set(operations) - set(routes)) == [], "documented operations with no route"
    for key, (admin, json_body, ndjson) in routes.items():
        op = operations[key]
        security = op.get("security", doc.get("security", []))
        assert (security == [{"adminToken": []}]) == admin, f"{key}: security vs admin flag"
        if admin:
            assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
        body = op.get("requestBody")
        assert (body is not None) == json_body, f"{key}: requestBody vs json_body flag"
        if json_body:
            media_types = ["application/json"] + (NDJSON_TYPES if ndjson else [])
            assert body["required"] is True and list(body["content"]) == media_types, key
            for status in ("400", "413", "415", "422"):
                assert status in op["responses"], f"{key} does not document {status}"
        assert op["operationId"], key


def test_request_body_schemas_reject_unknown_fields():
    doc = openapi()
    schemas = doc["components"]["schemas"]

    def closed(schema):
        if "$ref" in schema:
            return closed(schemas[schema["$ref"].rsplit("/", 1)[1]])
        if "oneOf" in schema:
            return all(closed(s) for s in schema["oneOf"])
        if schema.get("type") == "array":
            return closed(schema["items"])
        return schema.get("additionalProperties") is False

    for key, op in documented_operations(doc).items():
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert closed(schema), f"{key}: request body schema allows unknown fields"


# ---------------------------------------------------------------- (b) schemathesis

def test_schemathesis_finds_no_failure(surge_server, tmp_path):
    srv = surge_server()
    schemathesis = VENV_BIN / "schemathesis"
    if not schemathesis.exists():
        pytest.fail(f"{schemathesis} is missing: run tools/install-deps.sh", pytrace=False)
    command = [
        str(schemathesis), "run", str(OPENAPI),
        "--base-url", srv.url,
        "--validate-schema", "true",
        "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
        # every check of schemathesis 3.39: not_a_server_error, status_code_conformance,
        # content_type_conformance, response_headers_conformance, response_schema_conformance,
        # negative_data_rejection and ignored_auth. The experimental positive_data_acceptance
        # is not among them and is not meaningful here: whether a schema-valid request
        # succeeds depends on state the schema cannot express (does region dr5r1 exist, is a
        # rule in force, does traffic_split add up to 100), so 404/409/422 for valid data is
        # documented behaviour, not a failure.
        "--checks", "all",
        # valid and invalid data: invalid requests must get a 4xx (negative_data_rejection)
        "--data-generation-method", "all",
        "--hypothesis-max-examples", "30",
        "--hypothesis-seed", "20260111",
        "--hypothesis-database", "none",
        # generation speed depends on the machine, not on the API
        "--hypothesis-suppress-health-check", "too_slow",
        "--request-timeout", "10000",
        "--cassette-path", str(tmp_path / "schemathesis-cassette.yaml"),
        "--junit-xml", str(tmp_path / "schemathesis-junit.xml"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env["SCHEMATHESIS_HOOKS"] = "schemathesis_hooks"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                      env.get("PYTHONPATH")]))
    started = time.monotonic()
    run = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    output = run.stdout + run.stderr
    tail = "\n".join(output.splitlines()[-150:])
    assert run.returncode == 0, f"schemathesis failed ({' '.join(command)}):\n{tail}"
    summary = re.search(r"=+ (\d+) passed in", output)
    assert summary and int(summary.group(1)) == len(api_routes()), tail
    assert " errored" not in output and " failed" not in output, tail
    assert time.monotonic() - started < 180, "schemathesis took more than 3 minutes"
    # it really exercised the server (and the server is still healthy afterwards)
    assert srv.get("/readyz").status_code == 200
    total = sum(float(line.rsplit(" ", 1)[1]) for line in srv.get("/metrics").text.splitlines()
                if line.startswith("surge_http_requests_total{"))
    assert total > 500


# ---------------------------------------------------------------- (c) real responses

def to_json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes `anyOf [..., null]`."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def test_real_responses_of_every_kind_conform_to_the_document(surge_server):
    import jsonschema
    import schemathesis
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    srv = surge_server(config={"ratelimit.user_per_min": 2, "http.max_body_bytes": 4096,
                               "ingest.user_per_min": 2, "ingest.max_events": 5})
    schema = schemathesis.from_path(str(OPENAPI), base_url=srv.url)
    checks = (status_code_conformance, content_type_conformance, response_headers_conformance,
              response_schema_conformance)
    seen = []

    def check(path, method, response, status):
        assert response.status_code == status, (method, path, response.text)
        case = schema[path][method].make_case()
        case.validate_response(response, checks=checks)
        seen.append((method, path, status))
        return response

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    compute, center = "/api/v1/pricing/compute", "dr5ru"
    check("/healthz", "GET", srv.get("/healthz"), 200)
    check("/readyz", "GET", srv.get("/readyz"), 200)
    check("/", "GET", srv.get("/"), 200)

    body = {"region_id": center, "product_type": "standard", "user_id": "u1"}
    first = check(compute, "POST", srv.post(compute, json=body), 200).json()
    check(compute, "POST", srv.post(compute, json={"lat": 40.758, "lon": -73.9855,
                                                   "product_type": "premium"}), 200)
    check(compute, "POST", srv.post(compute, json=body), 200)
    check(compute, "POST", srv.post(compute, json=body), 429)
    check(compute, "POST", srv.request("POST", compute, data=b"{", headers={
        "Content-Type": "application/json"}), 400)
    check(compute, "POST", srv.post(compute, json={"region_id": "zzzzz",
                                                   "product_type": "standard"}), 404)
    check(compute, "POST", srv.post(compute, json={"region_id": center}), 422)
    check(compute, "POST", srv.post(compute, json={"region_id": center, "product_type": "x",
                                                   "user_id": "y" * 5000}), 413)
    check(compute, "POST", srv.request("POST", compute, data=b"{}", headers={
        "Content-Type": "text/plain"}), 415)

    explain = "/api/v1/pricing/explain"
    check(explain, "GET", srv.get(explain, params={"request_id": first["request_id"]}), 200)
    check(explain, "GET", srv.get(explain, params={"request_id": "f" * 32}), 404)
    check(explain, "GET", srv.get(explain, params={"request_id": "nope"}), 422)

    regions, region = "/api/v1/admin/regions", "/api/v1/admin/regions/{region_id}"
    check(regions, "GET", srv.get(regions), 401)
    check(regions, "GET", srv.get(regions, headers=admin), 200)
    new = {"region_id": "u4pru", "name": "Aalborg", "products": ["standard"]}
    check(regions, "POST", srv.post(regions, json=new, headers=admin), 201)
    check(regions, "POST", srv.post(regions, json=new, headers=admin), 409)
    check(regions, "POST", srv.post(regions, json={"region_id": "u4pru"}, headers=admin), 422)
    check(region, "GET", srv.get(f"{regions}/u4pru", headers=admin), 200)
    check(region, "GET", srv.get(f"{regions}/u4prv", headers=admin), 404)
    check(region, "PUT", srv.request("PUT", f"{regions}/u4pru", json={
        "name": "A", "products": ["standard"]}, headers=admin), 200)
    check(region, "PUT", srv.request("PUT", f"{regions}/u4prv", json={
        "name": "B", "products": ["standard"]}, headers=admin), 201)
    check(region, "DELETE", srv.request("DELETE", f"{regions}/u4prv", headers=admin), 204)

    features = "/api/v1/admin/regions/{region_id}/features"
    check("/api/v1/features/{region_id}", "GET", srv.get(f"/api/v1/features/{center}"), 404)
    check(features, "PUT", srv.request("PUT", f"{regions}/{center}/features", json={
        "features": {"demand_score": 0.9, "expected_demand": 20, "available_drivers": 4,
                     "weather_severity": 0.5, "nearby_event_score": 1, "my_feature": -3.5},
        "ttl_s": 60}, headers=admin), 200)
    check("/api/v1/features/{region_id}", "GET", srv.get(f"/api/v1/features/{center}"), 200)
    check("/api/v1/features/{region_id}", "GET", srv.get("/api/v1/features/dr5ra"), 422)
    check(features, "PUT", srv.request("PUT", f"{regions}/{center}/features", json={
        "features": {"demand_score": 2}}, headers=admin), 422)

    # guardrails of every kind in the compute and explain answers
    time.sleep(0.2)
    moved = check(compute, "POST", srv.post(compute, json={
        "region_id": center, "product_type": "premium"}), 200).json()
    assert [g["name"] for g in moved["guardrails"]] == ["max_change"]
    controls = "/api/v1/admin/regions/{region_id}/controls"
    check(controls, "GET", srv.get(f"{regions}/{center}/controls", headers=admin), 200)
    check(controls, "PUT", srv.request("PUT", f"{regions}/{center}/controls", json={
        "frozen": True, "frozen_multiplier": 2.5, "emergency_cap": 2, "reason": "test"},
        headers=admin), 200)
    check(controls, "GET", srv.get(f"{regions}/{center}/controls", headers=admin), 200)
    guarded = check(compute, "POST", srv.post(compute, json={
        "region_id": center, "product_type": "premium"}), 200).json()
    assert [g["name"] for g in guarded["guardrails"]] == ["max_change", "freeze", "emergency_cap"]
    for d in (moved, guarded):
        check(explain, "GET", srv.get(explain, params={"request_id": d["request_id"]}), 200)
    check(controls, "PUT", srv.request("PUT", f"{regions}/{center}/controls", json={
        "frozen_multiplier": 2}, headers=admin), 422)
    check(controls, "DELETE", srv.request("DELETE", f"{regions}/{center}/controls",
                                          headers=admin), 204)
    check(features, "DELETE", srv.request("DELETE", f"{regions}/{center}/features",
                                          headers=admin), 204)
    check(features, "DELETE", srv.request("DELETE", f"{regions}/zzzzz/features",
                                          headers=admin), 404)

    rules, rule = "/api/v1/admin/rules", "/api/v1/admin/rules/{rule_id}"
    check(rules, "GET", srv.get(rules, headers=admin), 200)
    created = check(rules, "POST", srv.post(rules, json={
        "region_id": "*", "product_type": "standard", "base_price": 9.5,
        "effective_date": int(time.time() * 1000) + 60000, "weights": {"demand": 1}},
        headers=admin), 201).json()
    check(rule, "GET", srv.get(f"{rules}/{created['rule_id']}", headers=admin), 200)
    check(rule, "GET", srv.get(f"{rules}/abc", headers=admin), 422)
    check(rule, "GET", srv.get(f"{rules}/987654", headers=admin), 404)
    check(rule, "DELETE", srv.request("DELETE", f"{rules}/{first['rule_id']}", headers=admin),
          409)
    check(rule, "DELETE", srv.request("DELETE", f"{rules}/{created['rule_id']}", headers=admin),
          204)

    experiments, experiment = "/api/v1/admin/experiments", "/api/v1/admin/experiments/{experiment_id}"
    exp = {"experiment_id": "e1", "name": "E", "variants": [{"name": "a", "rule_id": None},
                                                            {"name": "b", "description": "d"}],
           "traffic_split": {"a": 25.5, "b": 74.5}}
    check(experiments, "POST", srv.post(experiments, json=exp, headers=admin), 201)
    check(experiments, "POST", srv.post(experiments, json=exp, headers=admin), 409)
    check(experiments, "GET", srv.get(experiments, headers=admin), 200)
    check(experiment, "GET", srv.get(f"{experiments}/e1", headers=admin), 200)
    check(experiment, "PUT", srv.request("PUT", f"{experiments}/e1", json={
        **exp, "experiment_id": None, "status": "stopped"}, headers=admin), 200)
    check(experiment, "PUT", srv.request("PUT", f"{experiments}/e2", json=exp, headers=admin),
          422)
    results = "/api/v1/admin/experiments/{experiment_id}/results"
    check(results, "GET", srv.get(f"{experiments}/e1/results", headers=admin), 200)
    check(results, "GET", srv.get(f"{experiments}/nope/results", headers=admin), 404)
    check(experiment, "DELETE", srv.request("DELETE", f"{experiments}/e1", headers=admin), 204)
    check(experiment, "GET", srv.get(f"{experiments}/e1", headers=admin), 404)
    check("/metrics", "GET", srv.get("/metrics"), 200)

    # events: every outcome per event, and every status of the request as a whole
    events = "/api/v1/events"
    ndjson = {"Content-Type": "application/x-ndjson"}
    ev = {"event_id": "oa-1", "type": "search", "ts": "2026-01-11T10:32:00Z", "lat": 40.758,
          "lon": -73.9855, "user_id": "ev-1", "product_type": "standard"}
    check(events, "POST", srv.post(events, json=ev), 200)
    batch = [ev, {**ev, "event_id": "oa-2", "user_id": "ev-2"}, {**ev, "event_id": "oa-3",
             "lat": 91}, "not an event", {**ev, "event_id": "oa-4", "user_id": "ev-2"},
             {**ev, "event_id": "oa-5", "user_id": "ev-2"}]
    r = check(events, "POST", srv.request("POST", events, data="\n".join(
        json.dumps(e) for e in batch[:3]).encode(), headers=ndjson), 200).json()
    assert [x["status"] for x in r["results"]] == ["duplicate", "accepted", "rejected"]
    r = check(events, "POST", srv.post(events, json=[{**e, "event_id": f"{e['event_id']}b"}
                                                      if isinstance(e, dict) else e
                                                      for e in batch[1:]]), 200).json()
    assert [x["status"] for x in r["results"]] == ["accepted", "rejected", "rejected",
                                                   "rate_limited", "rate_limited"]
    check(events, "POST", srv.post(events, json={**ev, "event_id": "oa-6", "user_id": "ev-2"}),
          429)
    check(events, "POST", srv.post(events, json=[{"type": "search"}, {**ev, "ts": -1}]), 422)
    check(events, "POST", srv.post(events, json=[]), 400)
    check(events, "POST", srv.request("POST", events, data=b"[1,", headers={
        "Content-Type": "application/json"}), 400)
    check(events, "POST", srv.request("POST", events, data=b"\n \n", headers=ndjson), 400)
    check(events, "POST", srv.post(events, json=[ev] * 6), 413)
    check(events, "POST", srv.request("POST", events, data=json.dumps(ev).encode(), headers={
        "Content-Type": "text/plain"}), 415)

    # the model registry (docs/models.md): two small trainings into the running server's data
    # dir, then every model route's success and its usual refusals
    sys.path.insert(0, str(REPO / "tests" / "model"))
    from history import write_history
    history = srv.data_dir / "history.csv"
    write_history(history, regions=1, weeks=3, step_min=60, seed=1)
    for _ in range(2):
        out = run_surge("train", "--input", str(history), "--data-dir", str(srv.data_dir),
                        "--rounds", "5")
        assert out.returncode == 0, out.stderr
    models = "/api/v1/admin/models"
    check(models, "GET", srv.admin("GET", models), 200)
    check(models + "/{version}", "GET", srv.admin("GET", models + "/0.1.0"), 200)
    check(models + "/{version}", "GET", srv.admin("GET", models + "/9.9.9"), 404)
    check(models + "/{version}/promote", "POST", srv.admin("POST", models + "/0.1.0/promote"),
          200)
    check(models + "/{version}/shadow", "POST", srv.admin("POST", models + "/0.2.0/shadow"), 200)
    check(models + "/{version}/canary", "POST",
          srv.admin("POST", models + "/0.2.0/canary", json={"percent": 10}), 200)
    check(models + "/{version}/canary", "POST",
          srv.admin("POST", models + "/0.2.0/canary", json={"percent": 10}), 409)
    check(models + "/{version}/canary", "POST",
          srv.admin("POST", models + "/0.2.0/canary", json={"percent": 0}), 422)
    check(models + "/rollback", "POST", srv.admin("POST", models + "/rollback"), 200)


    # forecasting (live version 0.1.0 after the rollback above) and the stream
    forecast = "/api/v1/forecast/demand"
    check(forecast, "GET", srv.get(forecast, params={"region_id": "dr5ru", "horizon": 60}), 200)
    check(forecast, "GET", srv.get(forecast, params={"region_id": "dr5ru", "horizon": 7}), 422)
    check(forecast, "GET", srv.get(forecast, params={"region_id": "zzzzz"}), 404)
    check("/api/v1/stream/status", "GET", srv.get("/api/v1/stream/status"), 200)
    timeline = "/api/v1/regions/{region_id}/timeline"
    check(timeline, "GET", srv.get("/api/v1/regions/dr5ru/timeline"), 200)
    check(timeline, "GET", srv.get("/api/v1/regions/dr5ru/timeline?minutes=999"), 422)

    # the portal (docs/portal.md)
    asset = check("/assets/{file}", "GET", srv.get("/assets/app.js"), 200)
    check("/assets/{file}", "GET",
          srv.get("/assets/app.js", headers={"If-None-Match": asset.headers["ETag"]}), 304)
    check("/assets/{file}", "GET", srv.get("/assets/nope.js"), 404)
    login, session_path = "/api/v1/portal/login", "/api/v1/portal/session"
    portal = requests.Session()
    csrf = check(login, "POST", portal.post(srv.url + login, json={"token": ADMIN_TOKEN}),
                 200).json()["csrf_token"]
    check(login, "POST", srv.post(login, json={"token": "not-the-admin-token"}), 401)
    check(login, "POST", srv.post(login, json={"username": "alice"}), 422)
    check(session_path, "GET", portal.get(srv.url + session_path), 200)
    check(session_path, "GET", srv.get(session_path), 401)
    check("/api/v1/live", "GET", srv.get("/api/v1/live", headers=admin), 200)
    check("/api/v1/live", "GET", srv.get("/api/v1/live"), 401)
    for path, bad in (("/api/v1/admin/audit/search", "?limit=0"),
                      ("/api/v1/admin/reports", "?from=yesterday"),
                      ("/api/v1/admin/actions", "?limit=0")):
        check(path, "GET", srv.get(path, headers=admin), 200)
        check(path, "GET", srv.get(path + bad, headers=admin), 422)
    logout = "/api/v1/portal/logout"
    check(logout, "POST", portal.post(srv.url + logout), 403)
    check(logout, "POST", portal.post(srv.url + logout, headers={"X-CSRF-Token": csrf}), 200)

    # the statuses every route can give, documented once as components
    doc = openapi()
    components = to_json_schema(doc["components"])
    error_schema = {"$ref": "#/components/schemas/ErrorResponse", "components": components}
    for response, status, header in (
            (srv.get(compute), 405, "Allow"),
            (srv.get("/api/v1/nope"), 404, None)):
        assert response.status_code == status
        jsonschema.validate(response.json(), error_schema)
        if header:
            assert header in doc["components"]["responses"]["MethodNotAllowed"]["headers"]
            assert response.headers[header] == "POST"

    documented = {(m, p, s) for (m, p), op in documented_operations(doc).items()
                  for s in map(int, op["responses"])}
    assert set(seen) <= documented
    # every documented success status was seen at least once
    successes = {(m, p, s) for (m, p, s) in documented if s < 300}
    assert successes - set(seen) == set()


def test_event_schemas_are_the_avro_schemas():
    """The Event schemas of POST /api/v1/events say what schemas/<type>.avsc say (the single
    source of truth the server validates with): the same fields, which are required, their
    types, ranges, lengths and enums; and ingest_ts and source, which surge sets, are not
    accepted."""
    import json as _json

    doc = openapi()
    schemas = doc["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    mapping = schemas["Event"]["discriminator"]["mapping"]
    avsc_files = sorted(p.stem for p in (REPO / "schemas").glob("*.avsc"))
    assert sorted(mapping) == sorted(t for t in avsc_files
                                     if t not in ("pricing_decision", "demand_signal"))
    assert [s["$ref"] for s in schemas["Event"]["oneOf"]] == list(mapping.values())
    for type_name, ref in mapping.items():
        avro = _json.loads((REPO / "schemas" / f"{type_name}.avsc").read_text())
        event = resolve({"$ref": ref})
        assert event["type"] == "object" and event["additionalProperties"] is False
        props = event["properties"]
        fields = {f["name"]: f for f in avro["fields"]}
        assert set(props) == set(fields) - {"ingest_ts", "source"}, type_name
        assert resolve(props["type"])["enum"] == [type_name]
        region_required = fields["region_id"]["type"] == "string"
        point_required = fields["lat"]["type"] == "double"
        required = {name for name, f in fields.items()
                    if not isinstance(f["type"], list) and name not in (
                        "ingest_ts", "source", "region_id")}
        assert set(event["required"]) == required, type_name
        # a region is required as region_id or lat + lon, unless lat/lon are required anyway
        assert ("anyOf" in event) == (region_required and not point_required), type_name
        for name, prop in props.items():
            f, p = fields[name], resolve(prop)
            avro_type = f["type"][1] if isinstance(f["type"], list) else f["type"]
            rules = f.get("surge", {})
            if isinstance(avro_type, dict) and avro_type.get("logicalType") == "timestamp-millis":
                assert prop == {"$ref": "#/components/schemas/EventTime"}, (type_name, name)
                continue
            if isinstance(avro_type, dict) and avro_type["type"] == "enum":
                assert p["enum"] == avro_type["symbols"], (type_name, name)
                continue
            expected_type = {"string": "string", "double": "number", "int": "integer"}[avro_type]
            assert p["type"] == expected_type, (type_name, name)
            # optional fields (Avro ["null", T]) take null, required ones do not
            assert p.get("nullable", False) == isinstance(f["type"], list) or name == "region_id", \
                (type_name, name)
            for avro_key, schema_key in (("min", "minimum"), ("max", "maximum"),
                                         ("minLength", "minLength"), ("maxLength", "maxLength")):
                if avro_key in rules:
                    assert p[schema_key] == rules[avro_key], (type_name, name, schema_key)
                elif avro_type != "int":  # int fields also carry int32's own bounds
                    assert schema_key not in p, (type_name, name, schema_key, "not in the avsc")
