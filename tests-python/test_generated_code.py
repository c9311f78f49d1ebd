"""The Swift code generated from proto/ and committed in Sources/FidelisProto is current."""
import os, re, shutil, subprocess, tempfile
import pytest
from conftest import ROOT

PROTOS = ["proto/fidelis/v1/fidelis.proto", "proto/grpc/health/v1/health.proto"]


def test_regenerating_gives_the_committed_code():
    """A full comparison with a fresh generation, when the plugins were built on this
    machine by scripts/generate-proto (the test never builds them)."""
    tools = os.environ.get("FIDELIS_PROTO_TOOLS", os.path.join(os.environ.get("TMPDIR", tempfile.gettempdir()), "fidelis-proto-tools"))
    plugins = [os.path.join(tools, ".build", "release", p) for p in ("protoc-gen-swift", "protoc-gen-grpc-swift-2")]
    if not shutil.which("protoc") or not all(os.access(p, os.X_OK) for p in plugins):
        pytest.skip(f"protoc or its Swift plugins are not built here ({tools}); scripts/generate-proto builds them")
    r = subprocess.run([os.path.join(ROOT, "scripts", "generate-proto"), "--check"], capture_output=True, text=True, env=dict(os.environ, FIDELIS_PROTO_TOOLS=tools))
    assert r.returncode == 0, "Sources/FidelisProto is stale; run scripts/generate-proto\n" + r.stdout[-3000:] + r.stderr[-2000:]


def test_every_message_rpc_and_enum_value_of_the_proto_is_in_the_generated_code():
    """Always runs: a proto change without regeneration is caught even without the plugins."""
    generated = ""
    for dirpath, _, files in os.walk(os.path.join(ROOT, "Sources", "FidelisProto")):
        for name in files:
            generated += open(os.path.join(dirpath, name), encoding="utf-8").read()
    for proto in PROTOS:
        text = re.sub(r"//.*", "", open(os.path.join(ROOT, proto), encoding="utf-8").read())
        package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
        for message in re.findall(r"^\s*message (\w+)", text, re.M):
            assert f'_protobuf_package + ".{message}"' in generated or f'"{package}.{message}"' in generated, f"message {message} of {proto} is not generated"
        for rpc in re.findall(r"^\s*rpc (\w+)\(", text, re.M):
            assert f'method: "{rpc}"' in generated, f"rpc {rpc} of {proto} is not generated"
        for value in re.findall(r"^\s*([A-Z][A-Z0-9_]+) = \d+;", text, re.M):
            assert value in generated, f"enum value {value} of {proto} is not generated"
        for field, number in re.findall(r"^\s*(?:repeated |optional |map<[^>]+> )?[\w.]+ (\w+) = (\d+);", text, re.M):
            assert field in generated, f"field {field} of {proto} is not generated"
