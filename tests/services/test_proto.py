"""The committed gRPC modules are what protoc makes of services/proto/inference.proto now."""

from services.proto.build import stale_files


def test_generated_code_is_up_to_date():
    stale = stale_files()
    assert not stale, f"regenerate with: python -m services.proto.build (stale: {stale})"
